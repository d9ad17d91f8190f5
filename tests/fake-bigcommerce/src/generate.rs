//! Deterministic stores of any size from a seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::*;
use crate::store::{Owner, StoreData};

/// What a generated store holds. Everything but the hash and token has a default.
#[derive(Clone, Debug)]
pub struct StoreSpec {
    pub hash: String,
    pub access_token: String,
    pub seed: u64,
    pub products: usize,
    pub variants_per_product: usize,
    pub custom_fields_per_product: usize,
    pub metafields_per_product: usize,
    /// One metafield on every n-th variant, category, brand, customer and order (by id,
    /// from the first); 0 for none. Small by default: 10.
    pub owner_metafields_every: usize,
    /// Defaults to products / 10 (at least 10).
    pub customers: Option<usize>,
    /// Defaults to products / 5 (at least 10).
    pub orders: Option<usize>,
}

impl StoreSpec {
    pub fn new(hash: impl Into<String>, access_token: impl Into<String>) -> Self {
        StoreSpec {
            hash: hash.into(),
            access_token: access_token.into(),
            seed: 1,
            products: 0,
            variants_per_product: 3,
            custom_fields_per_product: 2,
            metafields_per_product: 1,
            owner_metafields_every: 10,
            customers: None,
            orders: None,
        }
    }
    pub fn products(mut self, n: usize) -> Self {
        self.products = n;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn variants_per_product(mut self, n: usize) -> Self {
        self.variants_per_product = n;
        self
    }
    pub fn owner_metafields_every(mut self, n: usize) -> Self {
        self.owner_metafields_every = n;
        self
    }
    pub fn customers(mut self, n: usize) -> Self {
        self.customers = Some(n);
        self
    }
    pub fn orders(mut self, n: usize) -> Self {
        self.orders = Some(n);
        self
    }
}

/// 2024-01-01T00:00:00Z: generated records are dated from here on.
const EPOCH: Timestamp = 1_704_067_200;

const WORDS: &[&str] = &[
    "Alpine", "Bold", "Cedar", "Dune", "Ember", "Fjord", "Granite", "Harbor", "Indigo", "Juniper", "Kestrel",
    "Lumen", "Meadow", "Nimbus", "Onyx", "Pine", "Quartz", "Ridge", "Sierra", "Tundra",
];
const THINGS: &[&str] = &[
    "Jacket", "Mug", "Backpack", "Lamp", "Sneaker", "Scarf", "Bottle", "Notebook", "Tent", "Watch",
];
const SIZES: &[&str] = &["S", "M", "L", "XL", "XXL"];
const WAREHOUSES: &[&str] = &[
    "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12", "W13", "W14", "W15", "W16",
    "W17", "W18", "W19",
];

fn money(rng: &mut StdRng, min: i64, max: i64) -> f64 {
    rng.random_range(min * 100..max * 100) as f64 / 100.0
}

pub fn generate(spec: &StoreSpec, store_id: u64) -> StoreData {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut data = StoreData::new(&spec.hash, store_id);
    let n = spec.products;

    let categories = (n / 1000).clamp(5, 1000) as i64;
    for id in 1..=categories {
        let parent_id = if id > 5 { rng.random_range(1..=5) } else { 0 };
        data.categories.insert(
            id,
            Category {
                id,
                parent_id,
                name: format!("{} {}", WORDS[id as usize % WORDS.len()], id),
                description: String::new(),
                is_visible: true,
                sort_order: id,
            },
        );
    }
    data.next.category = categories;
    let brands = (n / 2000).clamp(3, 500) as i64;
    for id in 1..=brands {
        data.brands.insert(
            id,
            Brand {
                id,
                name: format!("{} Co. {id}", WORDS[(id as usize * 7) % WORDS.len()]),
                page_title: String::new(),
            },
        );
    }
    data.next.brand = brands;

    for i in 1..=n as i64 {
        let price = money(&mut rng, 5, 500);
        let created = EPOCH + i * 60;
        let mut product = Product {
            id: i,
            name: format!(
                "{} {} {i}",
                WORDS[rng.random_range(0..WORDS.len())],
                THINGS[rng.random_range(0..THINGS.len())]
            ),
            kind: "physical".into(),
            sku: format!("SKU-{i:07}"),
            description: String::new(),
            weight: rng.random_range(1..50) as f64 / 10.0,
            price,
            sale_price: if rng.random_bool(0.2) {
                (price * 0.8 * 100.0).round() / 100.0
            } else {
                0.0
            },
            retail_price: 0.0,
            cost_price: 0.0,
            inventory_level: rng.random_range(0..1000),
            inventory_tracking: if spec.variants_per_product > 0 {
                "variant"
            } else {
                "product"
            }
            .into(),
            is_visible: rng.random_bool(0.9),
            is_featured: rng.random_bool(0.05),
            categories: vec![rng.random_range(1..=categories)],
            brand_id: rng.random_range(1..=brands),
            total_sold: rng.random_range(0..500),
            date_created: created,
            date_modified: created + rng.random_range(0..86_400 * 30),
            variants: Vec::with_capacity(spec.variants_per_product),
            custom_fields: Vec::with_capacity(spec.custom_fields_per_product),
        };
        for v in 0..spec.variants_per_product {
            data.next.variant += 1;
            let id = data.next.variant;
            let size = SIZES[v % SIZES.len()];
            product.variants.push(Variant {
                id,
                product_id: i,
                sku: format!("SKU-{i:07}-{size}"),
                price: None,
                sale_price: None,
                calculated_price: price,
                inventory_level: rng.random_range(0..300),
                weight: None,
                option_values: vec![OptionValue {
                    id: (v + 1) as i64,
                    label: Text::Borrowed(size),
                    option_id: 1,
                    option_display_name: "Size".into(),
                }],
            });
        }
        for f in 0..spec.custom_fields_per_product {
            data.next.custom_field += 1;
            product.custom_fields.push(CustomField {
                id: data.next.custom_field,
                name: if f == 0 {
                    "material".into()
                } else {
                    format!("field_{f}").into()
                },
                value: WORDS[rng.random_range(0..WORDS.len())].into(),
            });
        }
        for m in 0..spec.metafields_per_product {
            data.next.metafield += 1;
            let id = data.next.metafield;
            data.metafields.insert(
                id,
                Metafield {
                    id,
                    key: if m == 0 {
                        "warehouse".into()
                    } else {
                        format!("key_{m}").into()
                    },
                    value: WAREHOUSES[rng.random_range(0..WAREHOUSES.len())].into(),
                    namespace: "bcgraph".into(),
                    permission_set: "app_only".into(),
                    resource_type: "product".into(),
                    resource_id: i,
                    description: String::new(),
                    date_created: created,
                    date_modified: product.date_modified,
                },
            );
        }
        data.products.insert(i, product);
    }
    data.next.product = n as i64;

    let customers = spec.customers.unwrap_or((n / 10).max(10)) as i64;
    for id in 1..=customers {
        let created = EPOCH + id * 300;
        let first = WORDS[rng.random_range(0..WORDS.len())];
        data.customers.insert(
            id,
            Customer {
                id,
                email: format!("customer{id}@example.com"),
                first_name: first.into(),
                last_name: format!("Doe{id}"),
                company: String::new(),
                phone: String::new(),
                customer_group_id: rng.random_range(0..3),
                date_created: created,
                date_modified: created + rng.random_range(0..86_400 * 30),
            },
        );
    }
    data.next.customer = customers;

    let orders = spec.orders.unwrap_or((n / 5).max(10)) as i64;
    for id in 1..=orders {
        let created = EPOCH + id * 120;
        let lines = rng.random_range(1..=3);
        let mut products = Vec::with_capacity(lines);
        for _ in 0..lines {
            data.next.order_product += 1;
            let product_id = if n > 0 { rng.random_range(1..=n as i64) } else { 0 };
            let (name, sku, price, variant_id) = data
                .products
                .get(&product_id)
                .map(|p| {
                    (
                        p.name.clone(),
                        p.sku.clone(),
                        p.price,
                        p.variants.first().map_or(0, |v| v.id),
                    )
                })
                .unwrap_or_else(|| ("Gift card".into(), "GIFT".into(), 25.0, 0));
            let quantity = rng.random_range(1..4);
            let unit = Money::from_f64(price);
            products.push(OrderProduct {
                id: data.next.order_product,
                order_id: id,
                product_id,
                variant_id,
                name,
                sku,
                quantity,
                price_ex_tax: unit,
                price_inc_tax: unit,
                total_inc_tax: Money(unit.0 * quantity),
            });
        }
        let total = Money(products.iter().map(|p| p.total_inc_tax.0).sum());
        let status_id = ORDER_STATUSES[rng.random_range(1..ORDER_STATUSES.len())].0;
        data.orders.insert(
            id,
            Order {
                id,
                customer_id: rng.random_range(0..=customers),
                status_id,
                status: order_status_name(status_id).into(),
                currency_code: "USD".into(),
                subtotal_inc_tax: total,
                total_ex_tax: total,
                total_inc_tax: total,
                items_total: products.iter().map(|p| p.quantity).sum(),
                date_created: created,
                date_modified: created + rng.random_range(0..86_400 * 10),
                is_deleted: false,
                products,
            },
        );
    }
    data.next.order = orders;
    owner_metafields(&mut data, spec.owner_metafields_every);
    data
}

/// A metafield on every `every`-th record of each resource but products (which have
/// theirs above), dated like the record. Drawn from no randomness, so that the rest of a
/// generated store stays what it was before these existed.
fn owner_metafields(data: &mut StoreData, every: usize) {
    if every == 0 {
        return;
    }
    let picked =
        |ids: Vec<(i64, Timestamp)>| -> Vec<(i64, Timestamp)> { ids.into_iter().step_by(every).collect() };
    let variants = picked(
        data.products
            .values()
            .flat_map(|p| p.variants.iter().map(move |v| (v.id, p.date_modified)))
            .collect(),
    );
    let categories = picked(data.categories.keys().map(|id| (*id, EPOCH)).collect());
    let brands = picked(data.brands.keys().map(|id| (*id, EPOCH)).collect());
    let customers = picked(data.customers.values().map(|c| (c.id, c.date_modified)).collect());
    let orders = picked(data.orders.values().map(|o| (o.id, o.date_modified)).collect());
    for (owner, records) in [
        (Owner::Variant, variants),
        (Owner::Category, categories),
        (Owner::Brand, brands),
        (Owner::Customer, customers),
        (Owner::Order, orders),
    ] {
        for (resource_id, dated) in records {
            data.next.metafield += 1;
            let id = data.next.metafield;
            data.metafields.insert(
                id,
                Metafield {
                    id,
                    key: "note".into(),
                    value: format!("{} {resource_id}", owner.resource_type()).into(),
                    namespace: "bcgraph".into(),
                    permission_set: "app_only".into(),
                    resource_type: owner.resource_type().into(),
                    resource_id,
                    description: String::new(),
                    date_created: dated,
                    date_modified: dated,
                },
            );
        }
    }
}
