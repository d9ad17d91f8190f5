//! The names of a model's write types ([`Names`]) and its write inputs: create, update
//! and upsert, the nested and relationship inputs that carry writes of related records,
//! and the bulk inputs. The mutations and their background forms both take these.

use super::types::{GADGET_ID, JSON_OBJECT, NUMBER_ATOMICS, scalar_of};
use crate::model::{FieldType, Model, Registry, RelationKind};
use async_graphql::dynamic::{InputObject, InputValue, SchemaBuilder, TypeRef};

/// Type names of a model's write types, spelled here only.
pub(crate) struct Names {
    t: String,
    plural: String,
}

impl Names {
    pub(crate) fn of(model: &Model) -> Names {
        Names {
            t: model.type_name(),
            plural: model.plural_type_name(),
        }
    }

    /// `<Verb><Type>Input`: the input of a write or of a model's own action.
    pub(crate) fn input(&self, verb: &str) -> String {
        format!("{verb}{}Input", self.t)
    }
    /// `<Verb><Type>Result`: the result of a write or of a model's own action.
    pub(crate) fn result(&self, verb: &str) -> String {
        format!("{verb}{}Result", self.t)
    }
    /// `Bulk<Verb><Types>Input`: one element of a bulk write.
    pub(crate) fn bulk_input(&self, verb: &str) -> String {
        format!("Bulk{verb}{}Input", self.plural)
    }
    /// `Bulk<Verb><Types>Result`.
    pub(crate) fn bulk_result(&self, verb: &str) -> String {
        format!("Bulk{verb}{}Result", self.plural)
    }

    pub(crate) fn create_input(&self) -> String {
        self.input("Create")
    }
    pub(crate) fn update_input(&self) -> String {
        self.input("Update")
    }
    pub(crate) fn upsert_input(&self) -> String {
        self.input("Upsert")
    }
    pub(crate) fn create_result(&self) -> String {
        self.result("Create")
    }
    pub(crate) fn update_result(&self) -> String {
        self.result("Update")
    }
    pub(crate) fn upsert_result(&self) -> String {
        self.result("Upsert")
    }
    pub(crate) fn delete_result(&self) -> String {
        self.result("Delete")
    }
    fn nested_update(&self) -> String {
        format!("NestedUpdate{}Input", self.t)
    }
    fn nested_delete(&self) -> String {
        format!("NestedDelete{}Input", self.t)
    }
    fn belongs_to_input(&self) -> String {
        format!("{}BelongsToInput", self.t)
    }
    fn has_many_input(&self) -> String {
        format!("{}HasManyInput", self.t)
    }
    pub(crate) fn atomics_input(&self) -> String {
        format!("{}AtomicsInput", self.t)
    }
    fn converge_input(&self) -> String {
        format!("Converge{}Input", self.t)
    }
}

/// The plain and relationship fields of a write input.
fn input_fields(registry: &Registry, model: &Model, mut input: InputObject) -> InputObject {
    for (i, f) in model.fields.iter().enumerate() {
        if f.hidden || f.is_managed() || model.relation_of_field(i).is_some() {
            continue;
        }
        input = input.field(InputValue::new(f.api_id.clone(), TypeRef::named(scalar_of(f.ty))));
    }
    for rel in &model.relations {
        // Models written only through their own actions take no nested writes.
        if !registry.get(rel.target).generic_writes {
            continue;
        }
        let target = Names::of(registry.get(rel.target));
        let ty = match rel.kind {
            RelationKind::BelongsTo { .. } => TypeRef::named(target.belongs_to_input()),
            RelationKind::HasMany { .. } => TypeRef::named_nn_list(target.has_many_input()),
        };
        input = input.field(InputValue::new(rel.api_id.clone(), ty));
    }
    input
}

/// The number fields `_atomics` can add to.
pub(crate) fn atomic_fields(model: &Model) -> Vec<&crate::model::Field> {
    model
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            matches!(f.ty, FieldType::Integer | FieldType::Float)
                && !f.hidden
                && !f.platform
                && model.relation_of_field(*i).is_none()
        })
        .map(|(_, f)| f)
        .collect()
}

/// `_atomics: {field: {increment, decrement}}` on an update input, when `model` has
/// number fields.
fn with_atomics(model: &Model, n: &Names, input: InputObject) -> InputObject {
    if atomic_fields(model).is_empty() {
        input
    } else {
        input.field(InputValue::new("_atomics", TypeRef::named(n.atomics_input())))
    }
}

/// Register the write inputs of `model`.
pub(crate) fn register(
    schema: SchemaBuilder,
    registry: &Registry,
    model: &Model,
    n: &Names,
) -> SchemaBuilder {
    let api = model.api_id.clone();
    let atomics = atomic_fields(model);
    let schema = if atomics.is_empty() {
        schema
    } else {
        let mut input = InputObject::new(n.atomics_input());
        for f in atomics {
            input = input.field(InputValue::new(f.api_id.clone(), TypeRef::named(NUMBER_ATOMICS)));
        }
        schema.register(input)
    };
    schema
        .register(input_fields(registry, model, InputObject::new(n.create_input())))
        .register(with_atomics(
            model,
            n,
            input_fields(registry, model, InputObject::new(n.update_input())),
        ))
        .register(input_fields(
            registry,
            model,
            InputObject::new(n.upsert_input()).field(InputValue::new("id", TypeRef::named(GADGET_ID))),
        ))
        .register(with_atomics(
            model,
            n,
            input_fields(
                registry,
                model,
                InputObject::new(n.nested_update()).field(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
            ),
        ))
        .register(
            InputObject::new(n.nested_delete()).field(InputValue::new("id", TypeRef::named_nn(GADGET_ID))),
        )
        .register(
            InputObject::new(n.belongs_to_input())
                .field(InputValue::new("_link", TypeRef::named(GADGET_ID)))
                .field(InputValue::new("create", TypeRef::named(n.create_input())))
                .field(InputValue::new("update", TypeRef::named(n.nested_update())))
                .field(InputValue::new("delete", TypeRef::named(n.nested_delete()))),
        )
        .register(
            InputObject::new(n.converge_input())
                .field(InputValue::new(
                    "values",
                    TypeRef::named_nn_list_nn(n.upsert_input()),
                ))
                .field(InputValue::new("actions", TypeRef::named(JSON_OBJECT))),
        )
        .register(
            InputObject::new(n.has_many_input())
                .field(InputValue::new("create", TypeRef::named(n.create_input())))
                .field(InputValue::new("update", TypeRef::named(n.nested_update())))
                .field(InputValue::new("delete", TypeRef::named(n.nested_delete())))
                .field(InputValue::new("_converge", TypeRef::named(n.converge_input()))),
        )
        .register(
            InputObject::new(n.bulk_input("Create"))
                .field(InputValue::new(api.clone(), TypeRef::named(n.create_input()))),
        )
        .register(
            InputObject::new(n.bulk_input("Update"))
                .field(InputValue::new("id", TypeRef::named_nn(GADGET_ID)))
                .field(InputValue::new(api.clone(), TypeRef::named(n.update_input()))),
        )
        .register(
            InputObject::new(n.bulk_input("Upsert"))
                .field(InputValue::new("on", TypeRef::named_nn_list(TypeRef::STRING)))
                .field(InputValue::new(api, TypeRef::named(n.upsert_input()))),
        )
}
