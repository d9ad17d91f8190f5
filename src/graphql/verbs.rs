//! A model's generated write verbs, declared once: the field name, the arguments and the
//! result type of each, shared by the mutations (`bigcommerce { createProduct(...) }`)
//! and their background forms (`background { bigcommerce { createProduct(...) } }`), and
//! the runtime calls their arguments describe. A new verb is a new arm here and its
//! resolver in `mutations.rs`.

use super::args::{arg_id, arg_json, arg_list, arg_strings, element_id, element_input, id_arg, on_arg};
use super::inputs::Names;
use super::types::GADGET_ID;
use crate::model::{Model, pascal};
use crate::queue::Job;
use async_graphql::dynamic::{InputValue, ResolverContext, TypeRef};

/// A generated write of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Create,
    Update,
    Delete,
    Upsert,
    BulkCreate,
    BulkUpdate,
    BulkUpsert,
    BulkDelete,
}

impl Verb {
    /// In the schema's order.
    pub(crate) const ALL: [Verb; 8] = [
        Verb::Create,
        Verb::Update,
        Verb::Delete,
        Verb::Upsert,
        Verb::BulkCreate,
        Verb::BulkUpdate,
        Verb::BulkUpsert,
        Verb::BulkDelete,
    ];

    /// `Create`, `Update`, `Delete` or `Upsert`, as type names spell it.
    fn word(self) -> &'static str {
        match self {
            Verb::Create | Verb::BulkCreate => "Create",
            Verb::Update | Verb::BulkUpdate => "Update",
            Verb::Delete | Verb::BulkDelete => "Delete",
            Verb::Upsert | Verb::BulkUpsert => "Upsert",
        }
    }

    /// Many records at once: the enqueue answers a list of background actions.
    pub(crate) fn is_bulk(self) -> bool {
        matches!(
            self,
            Verb::BulkCreate | Verb::BulkUpdate | Verb::BulkUpsert | Verb::BulkDelete
        )
    }

    /// `createProduct`, `bulkCreateProducts`.
    pub(crate) fn field_name(self, model: &Model) -> String {
        if self.is_bulk() {
            format!("bulk{}{}", self.word(), pascal(&model.plural_api_id))
        } else {
            format!("{}{}", self.word().to_lowercase(), pascal(&model.api_id))
        }
    }

    /// The mutation's result type.
    pub(crate) fn result_type(self, n: &Names) -> String {
        if self.is_bulk() {
            n.bulk_result(self.word())
        } else {
            n.result(self.word())
        }
    }

    /// The field's arguments, in the schema's order.
    pub(crate) fn arguments(self, model: &Model, n: &Names) -> Vec<InputValue> {
        let record = |word: &str| InputValue::new(model.api_id.clone(), TypeRef::named(n.input(word)));
        let id = || InputValue::new("id", TypeRef::named_nn(GADGET_ID));
        match self {
            Verb::Create => vec![record("Create")],
            Verb::Update => vec![id(), record("Update")],
            Verb::Delete => vec![id()],
            Verb::Upsert => vec![
                InputValue::new("on", TypeRef::named_nn_list(TypeRef::STRING)),
                record("Upsert"),
            ],
            Verb::BulkCreate | Verb::BulkUpdate | Verb::BulkUpsert => vec![InputValue::new(
                "inputs",
                TypeRef::named_nn_list_nn(n.bulk_input(self.word())),
            )],
            Verb::BulkDelete => vec![InputValue::new("ids", TypeRef::named_nn_list_nn(GADGET_ID))],
        }
    }

    /// The runtime calls the field's arguments describe: one, or one per bulk element.
    pub(crate) fn calls(self, ctx: &ResolverContext, model: &Model) -> async_graphql::Result<Vec<Job>> {
        let name = || model.qualified_name();
        let key = model.api_id.as_str();
        Ok(match self {
            Verb::Create => vec![Job::Create {
                model: name(),
                input: arg_json(ctx, key)?,
            }],
            Verb::Update => vec![Job::Update {
                model: name(),
                id: id_arg(ctx)?,
                input: arg_json(ctx, key)?,
            }],
            Verb::Delete => vec![Job::Delete {
                model: name(),
                id: id_arg(ctx)?,
            }],
            Verb::Upsert => vec![Job::Upsert {
                model: name(),
                input: arg_json(ctx, key)?,
                on: on_arg(ctx)?,
            }],
            Verb::BulkCreate => arg_list(ctx, "inputs")?
                .iter()
                .map(|i| Job::Create {
                    model: name(),
                    input: element_input(i, key),
                })
                .collect(),
            Verb::BulkUpdate => arg_list(ctx, "inputs")?
                .iter()
                .map(|i| {
                    Ok(Job::Update {
                        model: name(),
                        id: element_id(i)?,
                        input: element_input(i, key),
                    })
                })
                .collect::<async_graphql::Result<_>>()?,
            Verb::BulkUpsert => arg_list(ctx, "inputs")?
                .iter()
                .map(|i| Job::Upsert {
                    model: name(),
                    input: element_input(i, key),
                    on: arg_strings(i.get("on")),
                })
                .collect(),
            Verb::BulkDelete => arg_list(ctx, "ids")?
                .iter()
                .map(|i| {
                    Ok(Job::Delete {
                        model: name(),
                        id: arg_id(i)?,
                    })
                })
                .collect::<async_graphql::Result<_>>()?,
        })
    }
}
