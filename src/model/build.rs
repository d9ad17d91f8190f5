//! Reading the registry off the SeaORM entities.

use super::{Field, FieldType, Model, Registry, Relation, RelationKind, camel};
use sea_orm::sea_query::{TableName, TableRef};
use sea_orm::{
    ColumnTrait, ColumnType, EntityTrait, IdenStatic, Identity, Iterable, RelationTrait, RelationType,
};

/// What the entity cannot say about a model: its place in the API.
pub struct Declaration {
    namespace: &'static str,
    api_id: &'static str,
    plural: Option<&'static str>,
    searchable: &'static [&'static str],
    enums: Vec<(&'static str, &'static [&'static str])>,
    defaults: Vec<(&'static str, &'static str)>,
    hidden: &'static [&'static str],
    platform: &'static [&'static str],
    uniques: Vec<(&'static str, Option<&'static str>)>,
    generic_writes: bool,
}

impl Declaration {
    /// A model named `api_id` (camelCase) in `namespace` (`bigcommerce`).
    pub fn new(namespace: &'static str, api_id: &'static str) -> Self {
        Declaration {
            namespace,
            api_id,
            plural: None,
            searchable: &[],
            enums: Vec::new(),
            defaults: Vec::new(),
            hidden: &[],
            platform: &[],
            uniques: Vec::new(),
            generic_writes: true,
        }
    }

    /// The API writes it only through its own model actions (e.g. a sync's `run` and
    /// `abort`), never through the generated create, update, upsert and delete.
    pub fn actions_only(mut self) -> Self {
        self.generic_writes = false;
        self
    }

    /// `field` is unique, within each value of the belongsTo relation `scope` if given.
    pub fn unique(mut self, field: &'static str, scope: Option<&'static str>) -> Self {
        self.uniques.push((field, scope));
        self
    }

    /// The plural api identifier, when adding an `s` is wrong.
    pub fn plural(mut self, plural: &'static str) -> Self {
        self.plural = Some(plural);
        self
    }

    /// The string fields `search` looks in.
    pub fn search(mut self, fields: &'static [&'static str]) -> Self {
        self.searchable = fields;
        self
    }

    /// A string field limited to these values.
    pub fn enumeration(mut self, field: &'static str, values: &'static [&'static str]) -> Self {
        self.enums.push((field, values));
        self
    }

    /// The value of a string or enum `field` when a create does not give one (a
    /// store's `state` is `installed`). An upsert must still give it: it may update.
    pub fn default_value(mut self, field: &'static str, value: &'static str) -> Self {
        self.defaults.push((field, value));
        self
    }

    /// Fields the API never shows.
    pub fn hidden(mut self, fields: &'static [&'static str]) -> Self {
        self.hidden = fields;
        self
    }

    /// Fields the platform owns (a store's hash, state, token, scopes, install times):
    /// set when the system creates the record, changed afterwards only by the gateway's
    /// own code (BigCommerce's callbacks and webhooks), never by a caller.
    pub fn platform(mut self, fields: &'static [&'static str]) -> Self {
        self.platform = fields;
        self
    }
}

/// A field an app adds to a model it does not own, such as `metafieldValue` on the built-in
/// `bigcommerce/product`. The registry only learns of it: the column itself comes from
/// one of the app's migrations (`snake_case` of the api identifier, nullable), and the
/// gateway checks at start-up that it is there.
///
/// ```
/// use bcgraph::ExtraField;
/// let value = ExtraField::string("metafieldValue").max_length(65_535);
/// assert_eq!(value.column(), "metafield_value");
/// ```
#[derive(Clone, Debug)]
pub struct ExtraField {
    api_id: &'static str,
    ty: FieldType,
    max_length: Option<usize>,
}

impl ExtraField {
    fn new(api_id: &'static str, ty: FieldType) -> ExtraField {
        ExtraField {
            api_id,
            ty,
            max_length: (ty == FieldType::String).then_some(255),
        }
    }

    /// Text, at most 255 characters unless [`ExtraField::max_length`] says otherwise.
    pub fn string(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::String)
    }

    /// A whole number (a 64-bit column).
    pub fn integer(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::Integer)
    }

    /// A floating-point number.
    pub fn float(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::Float)
    }

    /// `true` or `false`.
    pub fn boolean(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::Boolean)
    }

    /// A timestamp with time zone.
    pub fn date_time(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::DateTime)
    }

    /// Any JSON value.
    pub fn json(api_id: &'static str) -> ExtraField {
        ExtraField::new(api_id, FieldType::Json)
    }

    /// The longest text the field takes, in characters.
    pub fn max_length(mut self, characters: usize) -> ExtraField {
        self.max_length = Some(characters);
        self
    }

    /// The column the app's migration must add.
    pub fn column(&self) -> String {
        super::snake(self.api_id)
    }
}

/// A model whose relations still name tables, not models.
struct Draft {
    model: Model,
    /// (api id, kind, our column, target table, target column)
    relations: Vec<(String, RelationType, String, String, String)>,
    uniques: Vec<(&'static str, Option<&'static str>)>,
}

/// Collects the models (from SeaORM entities and their [`Declaration`]s) and builds the
/// [`Registry`].
#[derive(Default)]
pub struct RegistryBuilder {
    drafts: Vec<Draft>,
    tenant: Option<(&'static str, &'static str)>,
}

fn table_name(t: &TableRef) -> String {
    match t {
        TableRef::Table(TableName(_, name), _) => name.inner().into_owned(),
        other => panic!("relation to something other than a table: {other:?}"),
    }
}

fn single_column(identity: &Identity) -> String {
    match identity {
        Identity::Unary(col) => col.inner().into_owned(),
        other => panic!("composite keys are not supported in relations: {other:?}"),
    }
}

impl RegistryBuilder {
    /// Register entity `E`. Panics on an entity the registry cannot represent:
    /// that is a programming error found at start-up, never a runtime condition.
    pub fn model<E: EntityTrait>(mut self, decl: Declaration) -> Self {
        let entity = E::default();
        let table = entity.table_name().to_owned();
        let mut fields = Vec::new();
        for column in E::Column::iter() {
            let def = column.def();
            let name = column.as_str().to_owned();
            let api_id = camel(&name);
            let enum_values = decl
                .enums
                .iter()
                .find(|(f, _)| *f == api_id)
                .map(|(_, v)| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap_or_default();
            let ty = match def.get_column_type() {
                _ if name == "id" => FieldType::Id,
                _ if !enum_values.is_empty() => FieldType::Enum,
                ColumnType::BigInteger | ColumnType::Integer | ColumnType::SmallInteger => FieldType::Integer,
                ColumnType::Double | ColumnType::Float | ColumnType::Decimal(_) => FieldType::Float,
                ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => FieldType::String,
                ColumnType::Boolean => FieldType::Boolean,
                ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                    FieldType::DateTime
                }
                ColumnType::Json | ColumnType::JsonBinary => FieldType::Json,
                other => panic!("{table}.{name}: column type {other:?} has no API type"),
            };
            let max_length = match def.get_column_type() {
                ColumnType::String(sea_orm::sea_query::StringLen::N(n)) => Some(*n as usize),
                ColumnType::String(_) | ColumnType::Char(_) => Some(255),
                _ => None,
            };
            let default = decl
                .defaults
                .iter()
                .find(|(f, _)| *f == api_id.as_str())
                .map(|(_, v)| v.to_string());
            fields.push(Field {
                max_length,
                hidden: decl.hidden.contains(&api_id.as_str()),
                platform: decl.platform.contains(&api_id.as_str()),
                api_id,
                column: name,
                ty,
                nullable: def.is_null(),
                default,
                enum_values,
            });
        }
        assert_eq!(
            fields.first().map(|f| f.column.as_str()),
            Some("id"),
            "{table}: `id` must be the first column"
        );
        let defaulted = decl.defaults.iter().map(|(f, _)| f);
        for name in decl
            .searchable
            .iter()
            .chain(decl.hidden)
            .chain(decl.platform)
            .chain(defaulted)
        {
            assert!(
                fields.iter().any(|f| f.api_id == *name),
                "{table}: unknown field {name}"
            );
        }
        let relations = E::Relation::iter()
            .map(|rel| {
                let def = rel.def();
                let api_id = camel(&format!("{rel:?}"));
                match def.rel_type {
                    RelationType::HasMany => (
                        api_id,
                        RelationType::HasMany,
                        single_column(&def.from_col),
                        table_name(&def.to_tbl),
                        single_column(&def.to_col),
                    ),
                    RelationType::HasOne => {
                        assert_eq!(
                            table_name(&def.from_tbl),
                            table,
                            "{table}: hasOne relations are not supported yet"
                        );
                        (
                            api_id,
                            RelationType::HasOne,
                            single_column(&def.from_col),
                            table_name(&def.to_tbl),
                            single_column(&def.to_col),
                        )
                    }
                }
            })
            .collect();
        let searchable = decl
            .searchable
            .iter()
            .filter_map(|s| fields.iter().position(|f| f.api_id == *s))
            .collect();
        self.drafts.push(Draft {
            model: Model {
                id: self.drafts.len(),
                namespace: decl.namespace.to_owned(),
                api_id: decl.api_id.to_owned(),
                plural_api_id: decl
                    .plural
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{}s", decl.api_id)),
                table,
                fields,
                relations: Vec::new(),
                searchable,
                tenant: None,
                is_tenant: false,
                uniques: Vec::new(),
                generic_writes: decl.generic_writes,
            },
            relations,
            uniques: decl.uniques,
        });
        self
    }

    /// Add a field to a model registered before, by `namespace/apiId`. Panics on an
    /// unknown model or a field it already has: a programming error found at start-up.
    pub fn field(mut self, model: &str, field: ExtraField) -> Self {
        let draft = self
            .drafts
            .iter_mut()
            .find(|d| model.split_once(['/', '.']) == Some((&d.model.namespace, &d.model.api_id)))
            .unwrap_or_else(|| panic!("cannot add field {} to {model}: no such model", field.api_id));
        assert!(
            draft.model.field(field.api_id).is_none()
                && draft.model.field_by_column(&field.column()).is_none(),
            "{model} already has a field {}",
            field.api_id
        );
        draft.model.fields.push(Field {
            api_id: field.api_id.to_owned(),
            column: field.column(),
            ty: field.ty,
            nullable: true,
            max_length: field.max_length,
            hidden: false,
            platform: false,
            enum_values: Vec::new(),
            default: None,
        });
        self
    }

    /// The table of a model registered before, by `namespace/apiId`.
    pub fn table_of(&self, model: &str) -> Option<String> {
        self.drafts
            .iter()
            .find(|d| model.split_once(['/', '.']) == Some((&d.model.namespace, &d.model.api_id)))
            .map(|d| d.model.table.clone())
    }

    /// The model whose rows are tenants: every model that belongs to it is tenant-scoped.
    pub fn tenant(mut self, namespace: &'static str, api_id: &'static str) -> Self {
        self.tenant = Some((namespace, api_id));
        self
    }

    pub fn build(self) -> Registry {
        let tables: Vec<String> = self.drafts.iter().map(|d| d.model.table.clone()).collect();
        let columns: Vec<Vec<String>> = self
            .drafts
            .iter()
            .map(|d| d.model.fields.iter().map(|f| f.column.clone()).collect())
            .collect();
        let model_of = |table: &str| {
            tables
                .iter()
                .position(|t| t == table)
                .unwrap_or_else(|| panic!("relation to unregistered table {table}"))
        };
        let mut models = Vec::with_capacity(self.drafts.len());
        for draft in self.drafts {
            let mut model = draft.model;
            for (api_id, rel_type, own_col, target_table, target_col) in draft.relations {
                let target = model_of(&target_table);
                let kind = match rel_type {
                    RelationType::HasMany => RelationKind::HasMany {
                        target_field: columns[target]
                            .iter()
                            .position(|c| *c == target_col)
                            .expect("foreign key column exists"),
                    },
                    RelationType::HasOne => {
                        let field = model
                            .field_by_column(&own_col)
                            .expect("foreign key column exists");
                        model.fields[field].ty = FieldType::Id;
                        RelationKind::BelongsTo { field }
                    }
                };
                model.relations.push(Relation { api_id, kind, target });
            }
            for (field, scope) in draft.uniques {
                let table = &model.table;
                let field = model
                    .field(field)
                    .unwrap_or_else(|| panic!("{table}: unknown unique field {field}"));
                let scope = scope.map(|rel| match model.relation(rel).map(|r| model.relations[r].kind) {
                    Some(RelationKind::BelongsTo { field }) => field,
                    _ => panic!("{table}: unique scope {rel} is not a belongsTo relation"),
                });
                model.uniques.push(super::Unique { field, scope });
            }
            models.push(model);
        }
        let tenant_model = self.tenant.map(|(ns, api)| {
            models
                .iter()
                .position(|m| m.namespace == ns && m.api_id == api)
                .expect("tenant model is registered")
        });
        for model in &mut models {
            model.is_tenant = Some(model.id) == tenant_model;
            model.tenant = model.relations.iter().position(|r| {
                Some(r.target) == tenant_model && matches!(r.kind, RelationKind::BelongsTo { .. })
            });
        }
        Registry { models, tenant_model }
    }
}
