//! Snapshots of a store's data, in the fake BigCommerce and in the database, to show
//! that the database mirrors the store record for record.

use super::TestApp;
use entity::bigcommerce::{
    brand, category, customer, metafield, order, order_product, product, product_variant,
};
use fake_bigcommerce::FakeBigCommerce;
use sea_orm::EntityTrait;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A product's name, price and variants `(id, sku)`.
pub type ProductFields = (String, String, Vec<(i64, String)>);
/// An order's status, whether it is archived, and its lines `(id, sku, quantity)`.
pub type OrderFields = (i64, bool, Vec<(i64, String, i64)>);

/// Every copied resource, keyed by BigCommerce id, in the fields that matter.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    pub products: BTreeMap<i64, ProductFields>,
    pub metafields: BTreeMap<i64, (String, String, i64)>,
    pub categories: BTreeMap<i64, String>,
    pub brands: BTreeMap<i64, String>,
    pub customers: BTreeMap<i64, (String, String)>,
    pub orders: BTreeMap<i64, OrderFields>,
}

pub fn fake_snapshot(fake: &FakeBigCommerce, hash: &str) -> Snapshot {
    fake.store(hash).unwrap().with_data(|d| Snapshot {
        products: d
            .products
            .values()
            .map(|p| {
                let mut variants: Vec<(i64, String)> =
                    p.variants.iter().map(|v| (v.id, v.sku.clone())).collect();
                variants.sort();
                (p.id, (p.name.clone(), format!("{:.2}", p.price), variants))
            })
            .collect(),
        metafields: d
            .metafields
            .values()
            .map(|m| (m.id, (m.key.to_string(), m.value.to_string(), m.resource_id)))
            .collect(),
        categories: d.categories.values().map(|c| (c.id, c.name.clone())).collect(),
        brands: d.brands.values().map(|b| (b.id, b.name.clone())).collect(),
        customers: d
            .customers
            .values()
            .map(|c| (c.id, (c.email.clone(), c.first_name.clone())))
            .collect(),
        orders: d
            .orders
            .values()
            .map(|o| {
                let mut lines: Vec<(i64, String, i64)> = o
                    .products
                    .iter()
                    .map(|l| (l.id, l.sku.clone(), l.quantity))
                    .collect();
                lines.sort();
                (o.id, (o.status_id, o.is_deleted, lines))
            })
            .collect(),
    })
}

pub async fn db_snapshot(app: &TestApp) -> Snapshot {
    let db = &app.db;
    let variants = product_variant::Entity::find().all(db).await.unwrap();
    let mut by_product: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for v in &variants {
        by_product
            .entry(v.product_id.expect("a variant has its product"))
            .or_default()
            .push((v.bigcommerce_id, v.sku.clone().unwrap_or_default()));
    }
    let lines = order_product::Entity::find().all(db).await.unwrap();
    let mut by_order: BTreeMap<i64, Vec<(i64, String, i64)>> = BTreeMap::new();
    for l in &lines {
        by_order
            .entry(l.order_id.expect("a line has its order"))
            .or_default()
            .push((
                l.bigcommerce_id,
                l.sku.clone().unwrap_or_default(),
                l.quantity.unwrap_or_default(),
            ));
    }
    let products = product::Entity::find().all(db).await.unwrap();
    let orders = order::Entity::find().all(db).await.unwrap();
    Snapshot {
        products: products
            .into_iter()
            .map(|p| {
                let mut vs = by_product.remove(&p.id).unwrap_or_default();
                vs.sort();
                let fields = (
                    p.name.unwrap_or_default(),
                    format!("{:.2}", p.price.unwrap_or_default()),
                    vs,
                );
                (p.bigcommerce_id, fields)
            })
            .collect(),
        metafields: metafield::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| {
                let fields = (
                    m.key.unwrap_or_default(),
                    m.value.unwrap_or_default(),
                    m.resource_id.unwrap_or_default(),
                );
                (m.bigcommerce_id, fields)
            })
            .collect(),
        categories: category::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.bigcommerce_id, c.name.unwrap_or_default()))
            .collect(),
        brands: brand::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.bigcommerce_id, b.name.unwrap_or_default()))
            .collect(),
        customers: customer::Entity::find()
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                let fields = (c.email.unwrap_or_default(), c.first_name.unwrap_or_default());
                (c.bigcommerce_id, fields)
            })
            .collect(),
        orders: orders
            .into_iter()
            .map(|o| {
                let mut ls = by_order.remove(&o.id).unwrap_or_default();
                ls.sort();
                let fields = (
                    o.status_id.unwrap_or_default(),
                    o.is_deleted.unwrap_or_default(),
                    ls,
                );
                (o.bigcommerce_id, fields)
            })
            .collect(),
    }
}

/// The first differences of two maps, readable (a full diff of 20,000 rows is not).
fn differences<V: PartialEq + Debug>(
    name: &str,
    want: &BTreeMap<i64, V>,
    got: &BTreeMap<i64, V>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, w) in want {
        match got.get(id) {
            None => out.push(format!("{name} {id}: missing")),
            Some(g) if g != w => out.push(format!("{name} {id}: want {w:?}, got {g:?}")),
            _ => {}
        }
    }
    for id in got.keys().filter(|id| !want.contains_key(id)) {
        out.push(format!("{name} {id}: should be gone"));
    }
    out
}

/// The database holds exactly the fake store's data.
pub async fn assert_mirrors(app: &TestApp, fake: &FakeBigCommerce, hash: &str) {
    assert_same(&fake_snapshot(fake, hash), &db_snapshot(app).await);
}

/// Two snapshots are equal; otherwise the first differences.
pub fn assert_same(want: &Snapshot, got: &Snapshot) {
    let mut diff = differences("product", &want.products, &got.products);
    diff.extend(differences("metafield", &want.metafields, &got.metafields));
    diff.extend(differences("category", &want.categories, &got.categories));
    diff.extend(differences("brand", &want.brands, &got.brands));
    diff.extend(differences("customer", &want.customers, &got.customers));
    diff.extend(differences("order", &want.orders, &got.orders));
    let shown: Vec<&String> = diff.iter().take(10).collect();
    assert!(diff.is_empty(), "{} differences, first: {shown:#?}", diff.len());
}
