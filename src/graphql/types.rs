//! The types every generated schema shares: scalars, `SortOrder`, `PageInfo`,
//! the per-type filter inputs, `gadgetMeta` and `currentSession`.

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldValue, InputObject, InputValue, Object, Scalar, SchemaBuilder, TypeRef,
};

use crate::model::FieldType;
use crate::query::value::{parse_datetime, parse_id};

pub const GADGET_ID: &str = "GadgetID";
pub const DATE_TIME: &str = "DateTime";
pub const JSON: &str = "JSON";
pub const JSON_OBJECT: &str = "JSONObject";
pub const HYDRATION_PLAN: &str = "HydrationPlan";
pub const SORT_ORDER: &str = "SortOrder";
pub const PAGE_INFO: &str = "PageInfo";
/// `{increment, decrement}` of one number field in `_atomics`.
pub const NUMBER_ATOMICS: &str = "NumberAtomicsInput";

/// The GraphQL type of a field's values.
pub fn scalar_of(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Id => GADGET_ID,
        FieldType::Integer | FieldType::Float => TypeRef::FLOAT,
        FieldType::String | FieldType::Enum => TypeRef::STRING,
        FieldType::Boolean => TypeRef::BOOLEAN,
        FieldType::DateTime => DATE_TIME,
        FieldType::Json => JSON,
    }
}

/// The filter input type for a field type.
pub fn filter_of(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Id => "IdFilter",
        FieldType::Integer | FieldType::Float => "FloatFilter",
        FieldType::String => "StringFilter",
        FieldType::Enum => "SingleEnumFilter",
        FieldType::Boolean => "BooleanFilter",
        FieldType::DateTime => "DateTimeFilter",
        FieldType::Json => "JsonFilter",
    }
}

fn filter_input(name: &str, value_type: &str, ops: &[&str]) -> InputObject {
    let mut input = InputObject::new(name);
    for op in ops {
        let ty = match *op {
            "isSet" => TypeRef::named(TypeRef::BOOLEAN),
            "in" | "notIn" => TypeRef::named_list(value_type),
            _ => TypeRef::named(value_type),
        };
        input = input.field(InputValue::new(*op, ty));
    }
    input
}

const ORDERED: &[&str] = &[
    "equals",
    "notEquals",
    "in",
    "notIn",
    "lessThan",
    "lessThanOrEqual",
    "greaterThan",
    "greaterThanOrEqual",
];

pub fn register(mut schema: SchemaBuilder) -> SchemaBuilder {
    schema = schema
        .register(
            InputObject::new(NUMBER_ATOMICS)
                .field(InputValue::new("increment", TypeRef::named(TypeRef::FLOAT)))
                .field(InputValue::new("decrement", TypeRef::named(TypeRef::FLOAT))),
        )
        .register(
            Scalar::new(GADGET_ID)
                .description("A record id: a string of digits on the wire.")
                .validator(|v| match v {
                    Value::String(s) => parse_id(s).is_some(),
                    Value::Number(n) => n.as_i64().is_some_and(|i| i > 0),
                    _ => false,
                }),
        )
        .register(
            Scalar::new(DATE_TIME)
                .description("An ISO-8601 date-time in UTC with milliseconds.")
                .validator(|v| matches!(v, Value::String(s) if parse_datetime(s).is_some())),
        )
        .register(Scalar::new(JSON).description("Any JSON value."))
        .register(
            Scalar::new(JSON_OBJECT)
                .description("A JSON object.")
                .validator(|v| matches!(v, Value::Object(_))),
        )
        .register(
            Scalar::new(HYDRATION_PLAN)
                .description("Which fields of a model the client turns into richer types."),
        )
        .register(Enum::new(SORT_ORDER).item("Ascending").item("Descending"))
        .register(
            Object::new(PAGE_INFO)
                .field(page_info_field(
                    "hasNextPage",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                ))
                .field(page_info_field(
                    "hasPreviousPage",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                ))
                .field(page_info_field("startCursor", TypeRef::named(TypeRef::STRING)))
                .field(page_info_field("endCursor", TypeRef::named(TypeRef::STRING))),
        );
    let with_starts_with: Vec<&str> = ORDERED.iter().copied().chain(["startsWith", "isSet"]).collect();
    let ordered: Vec<&str> = ORDERED.iter().copied().chain(["isSet"]).collect();
    let date_ops: Vec<&str> = ORDERED
        .iter()
        .copied()
        .chain(["before", "after", "isSet"])
        .collect();
    schema
        .register(filter_input("IdFilter", GADGET_ID, &ordered))
        .register(filter_input("StringFilter", TypeRef::STRING, &with_starts_with))
        .register(filter_input("FloatFilter", TypeRef::FLOAT, &ordered))
        .register(filter_input(
            "BooleanFilter",
            TypeRef::BOOLEAN,
            &["equals", "notEquals", "isSet"],
        ))
        .register(filter_input("DateTimeFilter", DATE_TIME, &date_ops))
        .register(filter_input(
            "JsonFilter",
            JSON,
            &["equals", "notEquals", "in", "notIn", "matches", "isSet"],
        ))
        .register(filter_input(
            "SingleEnumFilter",
            TypeRef::STRING,
            &["equals", "notEquals", "in", "notIn", "isSet"],
        ))
}

/// What a connection's `pageInfo` resolves from.
pub struct PageInfoValue {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

fn page_info_field(name: &'static str, ty: TypeRef) -> Field {
    super::parent::parent_field::<PageInfoValue>(name, ty, move |info| {
        let value = match name {
            "hasNextPage" => Value::Boolean(info.has_next_page),
            "hasPreviousPage" => Value::Boolean(info.has_previous_page),
            "startCursor" => info
                .start_cursor
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
            _ => info.end_cursor.clone().map(Value::String).unwrap_or(Value::Null),
        };
        Some(FieldValue::value(value))
    })
}
