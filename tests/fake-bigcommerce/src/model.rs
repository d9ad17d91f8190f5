//! The fake's records, serialised with BigCommerce's field names and formats.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text that is usually one of a few constants in a generated store: borrowing those keeps a
/// store of 100,000 products from holding a million tiny allocations.
pub type Text = std::borrow::Cow<'static, str>;

/// Unix seconds, sent as RFC 3339 (v3) or RFC 2822 (v2).
pub type Timestamp = i64;

pub fn now() -> Timestamp {
    Utc::now().timestamp()
}

fn to_datetime(ts: Timestamp) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap_or_default()
}

/// Parses the date formats BigCommerce accepts in filters and bodies: RFC 3339, RFC 2822,
/// `YYYY-MM-DDTHH:MM:SS`, unix seconds, and a bare date, to which (like BigCommerce) the
/// current time of day is appended.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<i64>() {
        return Some(ts);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp());
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(text) {
        return Some(dt.timestamp());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(dt.and_utc().timestamp());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(dt.and_utc().timestamp());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date.and_time(Utc::now().time()).and_utc().timestamp());
    }
    None
}

pub mod rfc3339 {
    use super::*;
    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_datetime(*ts).to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        date_value(&value).ok_or_else(|| serde::de::Error::custom("invalid date"))
    }
}

pub mod rfc2822 {
    use super::*;
    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_datetime(*ts).format("%a, %d %b %Y %H:%M:%S %z").to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        date_value(&value).ok_or_else(|| serde::de::Error::custom("invalid date"))
    }
}

fn date_value(value: &serde_json::Value) -> Option<Timestamp> {
    match value {
        serde_json::Value::String(s) => parse_date(s),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// v2 money: ten-thousandths, sent as a decimal string (`"336.3200"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(pub i64);

impl Money {
    pub fn from_f64(v: f64) -> Self {
        Money((v * 10_000.0).round() as i64)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        s.serialize_str(&format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000))
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let number = match &value {
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            serde_json::Value::Number(n) => n.as_f64(),
            _ => None,
        };
        number
            .filter(|v| v.is_finite())
            .map(Money::from_f64)
            .ok_or_else(|| serde::de::Error::custom("invalid money amount"))
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Text,
    pub sku: String,
    pub description: String,
    pub weight: f64,
    pub price: f64,
    pub sale_price: f64,
    pub retail_price: f64,
    pub cost_price: f64,
    pub inventory_level: i64,
    pub inventory_tracking: Text,
    pub is_visible: bool,
    pub is_featured: bool,
    pub categories: Vec<i64>,
    pub brand_id: i64,
    pub total_sold: i64,
    #[serde(with = "rfc3339")]
    pub date_created: Timestamp,
    #[serde(with = "rfc3339")]
    pub date_modified: Timestamp,
    /// Sent only with `include=variants`.
    #[serde(skip)]
    pub variants: Vec<Variant>,
    /// Sent only with `include=custom_fields`.
    #[serde(skip)]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Variant {
    pub id: i64,
    pub product_id: i64,
    pub sku: String,
    pub price: Option<f64>,
    pub sale_price: Option<f64>,
    pub calculated_price: f64,
    pub inventory_level: i64,
    pub weight: Option<f64>,
    pub option_values: Vec<OptionValue>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OptionValue {
    pub id: i64,
    pub label: Text,
    pub option_id: i64,
    pub option_display_name: Text,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CustomField {
    pub id: i64,
    pub name: Text,
    pub value: Text,
}

/// Images are derived from the product id (every product has one), which keeps a large
/// generated store small.
#[derive(Clone, Debug, Serialize)]
pub struct Image {
    pub id: i64,
    pub product_id: i64,
    pub is_thumbnail: bool,
    pub sort_order: i64,
    pub url_standard: String,
    pub url_thumbnail: String,
}

impl Image {
    pub fn for_product(product_id: i64) -> Self {
        Image {
            id: product_id,
            product_id,
            is_thumbnail: true,
            sort_order: 0,
            url_standard: format!("https://cdn.example.com/products/{product_id}/standard.jpg"),
            url_thumbnail: format!("https://cdn.example.com/products/{product_id}/thumb.jpg"),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Metafield {
    pub id: i64,
    pub key: Text,
    pub value: Text,
    pub namespace: Text,
    pub permission_set: Text,
    pub resource_type: Text,
    pub resource_id: i64,
    pub description: String,
    #[serde(with = "rfc3339")]
    pub date_created: Timestamp,
    #[serde(with = "rfc3339")]
    pub date_modified: Timestamp,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Category {
    pub id: i64,
    pub parent_id: i64,
    pub name: String,
    pub description: String,
    pub is_visible: bool,
    pub sort_order: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Brand {
    pub id: i64,
    pub name: String,
    pub page_title: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Customer {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub phone: String,
    pub customer_group_id: i64,
    #[serde(with = "rfc3339")]
    pub date_created: Timestamp,
    #[serde(with = "rfc3339")]
    pub date_modified: Timestamp,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub status_id: i64,
    pub status: String,
    pub currency_code: String,
    pub subtotal_inc_tax: Money,
    pub total_ex_tax: Money,
    pub total_inc_tax: Money,
    pub items_total: i64,
    #[serde(with = "rfc2822")]
    pub date_created: Timestamp,
    #[serde(with = "rfc2822")]
    pub date_modified: Timestamp,
    pub is_deleted: bool,
    /// Listed by `/v2/orders/{id}/products`.
    #[serde(skip)]
    pub products: Vec<OrderProduct>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OrderProduct {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub variant_id: i64,
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    pub price_ex_tax: Money,
    pub price_inc_tax: Money,
    pub total_inc_tax: Money,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Hook {
    pub id: i64,
    pub client_id: String,
    pub store_hash: String,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Order statuses by id, as BigCommerce numbers them.
pub const ORDER_STATUSES: &[(i64, &str)] = &[
    (0, "Incomplete"),
    (1, "Pending"),
    (2, "Shipped"),
    (3, "Partially Shipped"),
    (4, "Refunded"),
    (5, "Cancelled"),
    (6, "Declined"),
    (7, "Awaiting Payment"),
    (8, "Awaiting Pickup"),
    (9, "Awaiting Shipment"),
    (10, "Completed"),
    (11, "Awaiting Fulfillment"),
];

pub fn order_status_name(id: i64) -> &'static str {
    ORDER_STATUSES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or("Pending", |(_, n)| n)
}
