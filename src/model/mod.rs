//! The model registry: what every model is, read once at start-up from the SeaORM
//! entities (columns, types, relations) plus a short declaration per model.
//!
//! Everything generated (GraphQL types, filters, SQL shapes, hydrations, tenancy)
//! is derived from here, so adding a model is an entity, a migration and one
//! registration line in [`bigcommerce`]. This module knows no GraphQL and no HTTP.

mod bigcommerce;
mod build;

pub use bigcommerce::names;
pub use build::{Declaration, ExtraField, RegistryBuilder};

/// Index of a model in the registry.
pub type ModelId = usize;

/// The kind of value a field holds, as the API sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A record id (`id`, or a belongsTo's foreign key): a 64-bit integer, a string on the wire.
    Id,
    /// A number stored as a 64-bit integer.
    Integer,
    /// A number stored as a double.
    Float,
    String,
    Boolean,
    DateTime,
    Json,
    /// A string restricted to the field's `enum_values`.
    Enum,
}

#[derive(Clone, Debug)]
pub struct Field {
    /// camelCase name in the API.
    pub api_id: String,
    /// snake_case column name.
    pub column: String,
    pub ty: FieldType,
    pub nullable: bool,
    /// Never readable through the API (e.g. access tokens).
    pub hidden: bool,
    /// Owned by the platform: changed only by the gateway's own code (see
    /// `Declaration::platform`).
    pub platform: bool,
    pub enum_values: Vec<String>,
    /// Longest string the column takes, in characters.
    pub max_length: Option<usize>,
    /// The value a create without one gets (see `Declaration::default_value`); an
    /// upsert, which may update, must still give it.
    pub default: Option<String>,
}

impl Field {
    /// Maintained by the action runtime, never written from input.
    pub fn is_managed(&self) -> bool {
        matches!(self.column.as_str(), "id" | "created_at" | "updated_at")
    }

    /// Must have a value when a record is created.
    pub fn is_required(&self) -> bool {
        !self.nullable && !self.is_managed()
    }
}

/// A field whose value is unique, optionally within the value of another field
/// (e.g. `bigcommerceId` per store). A database unique index backs each one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unique {
    pub field: usize,
    pub scope: Option<usize>,
}

impl Unique {
    /// The fields that identify a record under this constraint, scope first.
    pub fn fields(&self) -> Vec<usize> {
        self.scope.into_iter().chain([self.field]).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    /// This model holds the foreign key `field` pointing at the target's `id`.
    BelongsTo { field: usize },
    /// The target holds the foreign key `target_field` pointing at this model's `id`.
    HasMany { target_field: usize },
}

#[derive(Clone, Debug)]
pub struct Relation {
    pub api_id: String,
    pub kind: RelationKind,
    pub target: ModelId,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub id: ModelId,
    /// e.g. `bigcommerce`.
    pub namespace: String,
    /// e.g. `product`.
    pub api_id: String,
    /// e.g. `products`.
    pub plural_api_id: String,
    pub table: String,
    pub fields: Vec<Field>,
    pub relations: Vec<Relation>,
    /// Fields matched by `search`.
    pub searchable: Vec<usize>,
    /// The belongsTo relation to the tenant model (the store), if the model is tenant-scoped.
    pub tenant: Option<usize>,
    /// This model's rows are the tenants (the store): a tenant sees only its own row.
    pub is_tenant: bool,
    pub uniques: Vec<Unique>,
    /// The API has the generated create, update, upsert and delete actions (and their
    /// bulk forms); otherwise only the model's own actions write it.
    pub generic_writes: bool,
}

impl Model {
    pub fn field(&self, api_id: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.api_id == api_id)
    }

    pub fn field_by_column(&self, column: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.column == column)
    }

    pub fn relation(&self, api_id: &str) -> Option<usize> {
        self.relations.iter().position(|r| r.api_id == api_id)
    }

    /// The field that names a row's tenant: the tenant relation's foreign key, or
    /// `id` on the tenant model itself.
    pub fn tenant_scope(&self) -> Option<usize> {
        if self.is_tenant {
            Some(Model::ID)
        } else {
            self.tenant_field()
        }
    }

    /// The foreign key field of the tenant relation.
    pub fn tenant_field(&self) -> Option<usize> {
        match self.relations[self.tenant?].kind {
            RelationKind::BelongsTo { field } => Some(field),
            RelationKind::HasMany { .. } => None,
        }
    }

    /// The belongsTo relation whose foreign key is `field`.
    pub fn relation_of_field(&self, field: usize) -> Option<usize> {
        self.relations
            .iter()
            .position(|r| r.kind == RelationKind::BelongsTo { field })
    }

    /// The primary key is always field 0 (`id`).
    pub const ID: usize = 0;

    /// `bigcommerce.product`: the name hydrations and the client use.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.namespace, self.api_id)
    }

    /// `BigcommerceProduct`.
    pub fn type_name(&self) -> String {
        format!("{}{}", pascal(&self.namespace), pascal(&self.api_id))
    }

    /// `BigcommerceProducts`, for bulk type names.
    pub fn plural_type_name(&self) -> String {
        format!("{}{}", pascal(&self.namespace), pascal(&self.plural_api_id))
    }
}

/// All models, and which one is the tenant.
#[derive(Debug)]
pub struct Registry {
    pub models: Vec<Model>,
    /// The model whose rows are tenants (`bigcommerce/store`).
    pub tenant_model: Option<ModelId>,
}

impl Registry {
    /// The registry of bcgraph's built-in models.
    pub fn bigcommerce() -> Registry {
        Registry::builder().build()
    }

    /// A builder that already holds the built-in models, for an app to add its own.
    pub fn builder() -> RegistryBuilder {
        bigcommerce::declare(RegistryBuilder::default())
    }

    pub fn get(&self, id: ModelId) -> &Model {
        &self.models[id]
    }

    /// Find a model by `namespace/apiId` or `namespace.apiId`.
    pub fn find(&self, name: &str) -> Option<&Model> {
        let (ns, api) = name.split_once(['/', '.'])?;
        self.models.iter().find(|m| m.namespace == ns && m.api_id == api)
    }

    /// The namespaces in registration order, each with its models.
    pub fn namespaces(&self) -> Vec<(&str, Vec<&Model>)> {
        let mut out: Vec<(&str, Vec<&Model>)> = Vec::new();
        for model in &self.models {
            match out.iter_mut().find(|(ns, _)| *ns == model.namespace) {
                Some((_, models)) => models.push(model),
                None => out.push((&model.namespace, vec![model])),
            }
        }
        out
    }
}

/// `metafieldValue` → `metafield_value`: the column of an api identifier.
pub fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `product_variant` or `productVariant` → `ProductVariant`.
pub fn pascal(s: &str) -> String {
    let camel = camel(s);
    let mut chars = camel.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `product_variant` or `ProductVariants` → `productVariant` / `productVariants`.
pub fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper_next = false;
    for (i, c) in s.chars().enumerate() {
        if c == '_' {
            upper_next = true;
        } else if i == 0 {
            out.extend(c.to_lowercase());
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(camel("product_variant"), "productVariant");
        assert_eq!(camel("ProductVariants"), "productVariants");
        assert_eq!(pascal("productVariant"), "ProductVariant");
        assert_eq!(snake("metafieldValue"), "metafield_value");
        assert_eq!(camel(&snake("bigcommerceId")), "bigcommerceId");
        let registry = Registry::bigcommerce();
        let product = registry.find("bigcommerce/product").unwrap();
        assert_eq!(product.type_name(), "BigcommerceProduct");
        assert_eq!(product.plural_type_name(), "BigcommerceProducts");
        assert_eq!(product.fields[Model::ID].api_id, "id");
        let variants = &product.relations[product.relation("variants").unwrap()];
        assert_eq!(
            registry.get(variants.target).api_id,
            "productVariant",
            "hasMany relations are read from the entity"
        );
        assert!(product.tenant.is_some());
        let store = registry.find("bigcommerce.store").unwrap();
        assert!(store.tenant.is_none());
        assert!(store.fields[store.field("accessToken").unwrap()].hidden);
        for name in names::ALL {
            assert!(registry.find(name).is_some(), "{name} is registered");
        }
        assert_eq!(
            registry.models.len(),
            names::ALL.len(),
            "every built-in model has a name constant"
        );
    }
}
