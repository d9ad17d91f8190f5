//! One store's data and the writes to it; every write returns the webhook events it causes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::model::*;

/// What a write tells the webhook dispatcher: `scope` and the delivery's `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub scope: String,
    pub data: Value,
}

impl Event {
    fn new(scope: impl Into<String>, data: Value) -> Self {
        Event {
            scope: scope.into(),
            data,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct NextIds {
    pub product: i64,
    pub variant: i64,
    pub custom_field: i64,
    pub metafield: i64,
    pub category: i64,
    pub brand: i64,
    pub customer: i64,
    pub order: i64,
    pub order_product: i64,
    pub hook: i64,
}

fn take(next: &mut i64) -> i64 {
    *next += 1;
    *next
}

/// All data of one store.
#[derive(Clone, Debug, Default)]
pub struct StoreData {
    pub hash: String,
    pub store_id: u64,
    pub products: BTreeMap<i64, Product>,
    pub metafields: BTreeMap<i64, Metafield>,
    pub categories: BTreeMap<i64, Category>,
    pub brands: BTreeMap<i64, Brand>,
    pub customers: BTreeMap<i64, Customer>,
    pub orders: BTreeMap<i64, Order>,
    pub hooks: BTreeMap<i64, Hook>,
    pub next: NextIds,
}

/// Applies the fields of `patch` onto `base` (except `protected` ones) through the record's
/// own JSON form, so the API accepts exactly the fields it sends.
fn merged<T: Serialize + DeserializeOwned>(
    base: &T,
    patch: &Value,
    protected: &[&str],
) -> Result<T, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::unprocessable("The request body must be a JSON object."));
    };
    let mut value = serde_json::to_value(base).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        for (key, field) in patch {
            if !protected.contains(&key.as_str()) && map.contains_key(key) {
                map.insert(key.clone(), field.clone());
            }
        }
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::unprocessable("JSON data is missing or invalid").with_error("body", e.to_string())
    })
}

fn required_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::unprocessable("JSON data is missing or invalid")
            .with_error(field, format!("{field} is required")));
    }
    Ok(())
}

fn product_event(action: &str, id: i64) -> Event {
    Event::new(
        format!("store/product/{action}"),
        json!({"type": "product", "id": id}),
    )
}

fn sku_event(action: &str, product_id: i64, variant_id: i64) -> Event {
    Event::new(
        format!("store/sku/{action}"),
        json!({"type": "sku", "id": variant_id, "sku": {"product_id": product_id, "variant_id": variant_id}}),
    )
}

/// What a metafield belongs to: BigCommerce's `resource_type` of the six resources an app
/// reads metafields of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Product,
    Variant,
    Category,
    Brand,
    Customer,
    Order,
}

impl Owner {
    pub const ALL: [Owner; 6] = [
        Owner::Product,
        Owner::Variant,
        Owner::Category,
        Owner::Brand,
        Owner::Customer,
        Owner::Order,
    ];

    pub fn resource_type(self) -> &'static str {
        match self {
            Owner::Product => "product",
            Owner::Variant => "variant",
            Owner::Category => "category",
            Owner::Brand => "brand",
            Owner::Customer => "customer",
            Owner::Order => "order",
        }
    }

    pub fn parse(resource_type: &str) -> Option<Owner> {
        Owner::ALL
            .into_iter()
            .find(|o| o.resource_type() == resource_type)
    }

    /// The owner's own metafield scopes (`{prefix}/created`, ...). Customers have none:
    /// their metafields fire only the generic `store/metafield/*`.
    fn scope_prefix(self) -> Option<&'static str> {
        match self {
            Owner::Product => Some("store/product/metafield"),
            Owner::Variant => Some("store/product/variant/metafield"),
            Owner::Category => Some("store/category/metafield"),
            Owner::Brand => Some("store/brand/metafield"),
            Owner::Order => Some("store/order/metafield"),
            Owner::Customer => None,
        }
    }
}

/// A metafield change fires the generic `store/metafield/{action}` (with `resource_type`)
/// and, for all but customers, the owner's own scope. As BigCommerce documents them, the
/// product and variant ones carry `resource_type`, the category, brand and order ones only
/// `metafield_id` and `resource_id` (a string).
fn metafield_events(action: &str, m: &Metafield) -> Vec<Event> {
    let mut events = vec![Event::new(
        format!("store/metafield/{action}"),
        json!({
            "metafield_id": m.id,
            "resource_id": m.resource_id.to_string(),
            "resource_type": m.resource_type,
            "namespace": m.namespace,
        }),
    )];
    let owner = Owner::parse(&m.resource_type);
    if let Some(owner) = owner
        && let Some(prefix) = owner.scope_prefix()
    {
        let data = match owner {
            Owner::Product | Owner::Variant => json!({
                "metafield_id": m.id,
                "resource_id": m.resource_id.to_string(),
                "resource_type": m.resource_type,
            }),
            _ => json!({"metafield_id": m.id, "resource_id": m.resource_id.to_string()}),
        };
        events.push(Event::new(format!("{prefix}/{action}"), data));
    }
    events
}

fn simple_event(kind: &str, action: &str, id: i64) -> Event {
    Event::new(format!("store/{kind}/{action}"), json!({"type": kind, "id": id}))
}

impl StoreData {
    pub fn new(hash: &str, store_id: u64) -> Self {
        StoreData {
            hash: hash.to_string(),
            store_id,
            ..Default::default()
        }
    }

    fn product_mut(&mut self, id: i64) -> Result<&mut Product, ApiError> {
        self.products.get_mut(&id).ok_or_else(ApiError::not_found)
    }

    // ---- products -------------------------------------------------------------------------

    pub fn create_product(&mut self, body: &Value) -> Result<(Product, Vec<Event>), ApiError> {
        let now = now();
        let template = Product {
            kind: "physical".into(),
            inventory_tracking: "none".into(),
            is_visible: true,
            ..Default::default()
        };
        let mut product = merged(&template, body, &["id", "date_created", "date_modified"])?;
        required_name(&product.name, "name")?;
        product.id = take(&mut self.next.product);
        product.date_created = now;
        product.date_modified = now;
        let mut events = vec![product_event("created", product.id)];
        if let Some(Value::Array(variants)) = body.get("variants") {
            for v in variants {
                let variant = self.new_variant(product.id, v)?;
                events.push(sku_event("created", product.id, variant.id));
                product.variants.push(variant);
            }
        }
        if let Some(Value::Array(fields)) = body.get("custom_fields") {
            for f in fields {
                let mut field: CustomField = merged(&CustomField::default(), f, &["id"])?;
                field.id = take(&mut self.next.custom_field);
                product.custom_fields.push(field);
            }
        }
        self.products.insert(product.id, product.clone());
        Ok((product, events))
    }

    pub fn update_product(&mut self, id: i64, body: &Value) -> Result<(Product, Vec<Event>), ApiError> {
        let old = self.product_mut(id)?;
        let mut product = merged(&*old, body, &["id", "date_created", "date_modified"])?;
        required_name(&product.name, "name")?;
        product.variants = std::mem::take(&mut old.variants);
        product.custom_fields = std::mem::take(&mut old.custom_fields);
        product.date_modified = now().max(old.date_modified);
        *old = product.clone();
        Ok((product, vec![product_event("updated", id)]))
    }

    pub fn delete_product(&mut self, id: i64) -> Result<Vec<Event>, ApiError> {
        let product = self.products.remove(&id).ok_or_else(ApiError::not_found)?;
        let variants: Vec<i64> = product.variants.iter().map(|v| v.id).collect();
        self.drop_metafields_of(Owner::Product, &[id]);
        self.drop_metafields_of(Owner::Variant, &variants);
        Ok(vec![product_event("deleted", id)])
    }

    // ---- variants -------------------------------------------------------------------------

    fn new_variant(&mut self, product_id: i64, body: &Value) -> Result<Variant, ApiError> {
        let mut variant: Variant = merged(&Variant::default(), body, &["id", "product_id"])?;
        required_name(&variant.sku, "sku")?;
        variant.id = take(&mut self.next.variant);
        variant.product_id = product_id;
        Ok(variant)
    }

    pub fn create_variant(
        &mut self,
        product_id: i64,
        body: &Value,
    ) -> Result<(Variant, Vec<Event>), ApiError> {
        self.product_mut(product_id)?;
        let mut variant = self.new_variant(product_id, body)?;
        let product = self.product_mut(product_id)?;
        if variant.calculated_price == 0.0 {
            variant.calculated_price = variant.price.unwrap_or(product.price);
        }
        product.variants.push(variant.clone());
        product.date_modified = now();
        Ok((
            variant.clone(),
            vec![sku_event("created", product_id, variant.id)],
        ))
    }

    pub fn update_variant(
        &mut self,
        product_id: i64,
        variant_id: i64,
        body: &Value,
    ) -> Result<(Variant, Vec<Event>), ApiError> {
        let product = self.product_mut(product_id)?;
        let slot = product
            .variants
            .iter_mut()
            .find(|v| v.id == variant_id)
            .ok_or_else(ApiError::not_found)?;
        let variant: Variant = merged(&*slot, body, &["id", "product_id"])?;
        *slot = variant.clone();
        product.date_modified = now();
        Ok((variant, vec![sku_event("updated", product_id, variant_id)]))
    }

    pub fn delete_variant(&mut self, product_id: i64, variant_id: i64) -> Result<Vec<Event>, ApiError> {
        let product = self.product_mut(product_id)?;
        let before = product.variants.len();
        product.variants.retain(|v| v.id != variant_id);
        if product.variants.len() == before {
            return Err(ApiError::not_found());
        }
        product.date_modified = now();
        self.drop_metafields_of(Owner::Variant, &[variant_id]);
        Ok(vec![sku_event("deleted", product_id, variant_id)])
    }

    // ---- metafields -----------------------------------------------------------------------

    /// Does the resource a metafield would belong to exist? An archived order still does.
    pub fn owner_exists(&self, owner: Owner, id: i64) -> bool {
        match owner {
            Owner::Product => self.products.contains_key(&id),
            Owner::Variant => self
                .products
                .values()
                .any(|p| p.variants.iter().any(|v| v.id == id)),
            Owner::Category => self.categories.contains_key(&id),
            Owner::Brand => self.brands.contains_key(&id),
            Owner::Customer => self.customers.contains_key(&id),
            Owner::Order => self.orders.contains_key(&id),
        }
    }

    /// BigCommerce drops a resource's metafields with it, without a webhook.
    fn drop_metafields_of(&mut self, owner: Owner, ids: &[i64]) {
        let kind = owner.resource_type();
        self.metafields
            .retain(|_, m| !(m.resource_type == kind && ids.contains(&m.resource_id)));
    }

    pub fn create_metafield(
        &mut self,
        product_id: i64,
        body: &Value,
    ) -> Result<(Metafield, Vec<Event>), ApiError> {
        self.create_metafield_of(Owner::Product, product_id, body)
    }

    pub fn create_metafield_of(
        &mut self,
        owner: Owner,
        resource_id: i64,
        body: &Value,
    ) -> Result<(Metafield, Vec<Event>), ApiError> {
        if !self.owner_exists(owner, resource_id) {
            return Err(ApiError::not_found());
        }
        let now = now();
        let template = Metafield {
            permission_set: "app_only".into(),
            ..Default::default()
        };
        let mut metafield: Metafield = merged(
            &template,
            body,
            &[
                "id",
                "resource_id",
                "resource_type",
                "date_created",
                "date_modified",
            ],
        )?;
        required_name(&metafield.key, "key")?;
        required_name(&metafield.namespace, "namespace")?;
        metafield.id = take(&mut self.next.metafield);
        metafield.resource_type = owner.resource_type().into();
        metafield.resource_id = resource_id;
        metafield.date_created = now;
        metafield.date_modified = now;
        self.metafields.insert(metafield.id, metafield.clone());
        let events = metafield_events("created", &metafield);
        Ok((metafield, events))
    }

    /// The metafield `id` of that resource, or a 404 (also for another resource's).
    pub fn metafield_of(&self, owner: Owner, resource_id: i64, id: i64) -> Result<&Metafield, ApiError> {
        self.metafields
            .get(&id)
            .filter(|m| m.resource_type == owner.resource_type() && m.resource_id == resource_id)
            .ok_or_else(ApiError::not_found)
    }

    pub fn update_metafield(
        &mut self,
        product_id: i64,
        id: i64,
        body: &Value,
    ) -> Result<(Metafield, Vec<Event>), ApiError> {
        self.update_metafield_of(Owner::Product, product_id, id, body)
    }

    pub fn update_metafield_of(
        &mut self,
        owner: Owner,
        resource_id: i64,
        id: i64,
        body: &Value,
    ) -> Result<(Metafield, Vec<Event>), ApiError> {
        self.metafield_of(owner, resource_id, id)?;
        let slot = self.metafields.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let mut metafield: Metafield = merged(
            &*slot,
            body,
            &[
                "id",
                "resource_id",
                "resource_type",
                "date_created",
                "date_modified",
            ],
        )?;
        metafield.date_modified = now().max(slot.date_modified);
        *slot = metafield.clone();
        let events = metafield_events("updated", &metafield);
        Ok((metafield, events))
    }

    pub fn delete_metafield(&mut self, product_id: i64, id: i64) -> Result<Vec<Event>, ApiError> {
        self.delete_metafield_of(Owner::Product, product_id, id)
    }

    pub fn delete_metafield_of(
        &mut self,
        owner: Owner,
        resource_id: i64,
        id: i64,
    ) -> Result<Vec<Event>, ApiError> {
        self.metafield_of(owner, resource_id, id)?;
        let metafield = self.metafields.remove(&id).ok_or_else(ApiError::not_found)?;
        Ok(metafield_events("deleted", &metafield))
    }

    // ---- categories, brands, customers ----------------------------------------------------

    pub fn create_category(&mut self, body: &Value) -> Result<(Category, Vec<Event>), ApiError> {
        let template = Category {
            is_visible: true,
            ..Default::default()
        };
        let mut category: Category = merged(&template, body, &["id"])?;
        required_name(&category.name, "name")?;
        category.id = take(&mut self.next.category);
        self.categories.insert(category.id, category.clone());
        Ok((
            category.clone(),
            vec![simple_event("category", "created", category.id)],
        ))
    }

    pub fn update_category(&mut self, id: i64, body: &Value) -> Result<(Category, Vec<Event>), ApiError> {
        let slot = self.categories.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let category: Category = merged(&*slot, body, &["id"])?;
        *slot = category.clone();
        Ok((category, vec![simple_event("category", "updated", id)]))
    }

    pub fn delete_category(&mut self, id: i64) -> Result<Vec<Event>, ApiError> {
        self.categories.remove(&id).ok_or_else(ApiError::not_found)?;
        self.drop_metafields_of(Owner::Category, &[id]);
        Ok(vec![simple_event("category", "deleted", id)])
    }

    pub fn create_brand(&mut self, body: &Value) -> Result<(Brand, Vec<Event>), ApiError> {
        let mut brand: Brand = merged(&Brand::default(), body, &["id"])?;
        required_name(&brand.name, "name")?;
        brand.id = take(&mut self.next.brand);
        self.brands.insert(brand.id, brand.clone());
        Ok((brand.clone(), vec![simple_event("brand", "created", brand.id)]))
    }

    pub fn update_brand(&mut self, id: i64, body: &Value) -> Result<(Brand, Vec<Event>), ApiError> {
        let slot = self.brands.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let brand: Brand = merged(&*slot, body, &["id"])?;
        *slot = brand.clone();
        Ok((brand, vec![simple_event("brand", "updated", id)]))
    }

    pub fn delete_brand(&mut self, id: i64) -> Result<Vec<Event>, ApiError> {
        self.brands.remove(&id).ok_or_else(ApiError::not_found)?;
        self.drop_metafields_of(Owner::Brand, &[id]);
        Ok(vec![simple_event("brand", "deleted", id)])
    }

    pub fn create_customer(&mut self, body: &Value) -> Result<(Customer, Vec<Event>), ApiError> {
        let now = now();
        let mut customer: Customer = merged(
            &Customer::default(),
            body,
            &["id", "date_created", "date_modified"],
        )?;
        required_name(&customer.email, "email")?;
        customer.id = take(&mut self.next.customer);
        customer.date_created = now;
        customer.date_modified = now;
        self.customers.insert(customer.id, customer.clone());
        Ok((
            customer.clone(),
            vec![simple_event("customer", "created", customer.id)],
        ))
    }

    pub fn update_customer(&mut self, id: i64, body: &Value) -> Result<(Customer, Vec<Event>), ApiError> {
        let slot = self.customers.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let mut customer: Customer = merged(&*slot, body, &["id", "date_created", "date_modified"])?;
        customer.date_modified = now().max(slot.date_modified);
        *slot = customer.clone();
        Ok((customer, vec![simple_event("customer", "updated", id)]))
    }

    pub fn delete_customer(&mut self, id: i64) -> Result<Vec<Event>, ApiError> {
        self.customers.remove(&id).ok_or_else(ApiError::not_found)?;
        self.drop_metafields_of(Owner::Customer, &[id]);
        Ok(vec![simple_event("customer", "deleted", id)])
    }

    // ---- orders ---------------------------------------------------------------------------

    pub fn create_order(&mut self, body: &Value) -> Result<(Order, Vec<Event>), ApiError> {
        let now = now();
        let template = Order {
            status_id: 1,
            currency_code: "USD".into(),
            ..Default::default()
        };
        let mut order: Order = merged(
            &template,
            body,
            &["id", "date_created", "date_modified", "status"],
        )?;
        order.id = take(&mut self.next.order);
        order.status = order_status_name(order.status_id).into();
        order.date_created = now;
        order.date_modified = now;
        if let Some(Value::Array(lines)) = body.get("products") {
            for line in lines {
                let mut item: OrderProduct = merged(&OrderProduct::default(), line, &["id", "order_id"])?;
                item.id = take(&mut self.next.order_product);
                item.order_id = order.id;
                if item.total_inc_tax == Money(0) {
                    item.total_inc_tax = Money(item.price_inc_tax.0 * item.quantity);
                }
                order.products.push(item);
            }
        }
        order.items_total = order.products.iter().map(|p| p.quantity).sum();
        if order.total_inc_tax == Money(0) {
            order.total_inc_tax = Money(order.products.iter().map(|p| p.total_inc_tax.0).sum());
            order.subtotal_inc_tax = order.total_inc_tax;
        }
        self.orders.insert(order.id, order.clone());
        Ok((order.clone(), vec![simple_event("order", "created", order.id)]))
    }

    pub fn update_order(&mut self, id: i64, body: &Value) -> Result<(Order, Vec<Event>), ApiError> {
        let slot = self.orders.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let mut order: Order = merged(&*slot, body, &["id", "date_created", "date_modified", "status"])?;
        order.products = std::mem::take(&mut slot.products);
        order.status = order_status_name(order.status_id).into();
        order.date_modified = now().max(slot.date_modified);
        let mut events = vec![simple_event("order", "updated", id)];
        if order.status_id != slot.status_id {
            events.push(Event::new(
                "store/order/statusUpdated",
                json!({"type": "order", "id": id, "status": {"previous_status_id": slot.status_id, "new_status_id": order.status_id}}),
            ));
        }
        *slot = order.clone();
        Ok((order, events))
    }

    /// v2 `DELETE /orders/{id}` archives the order: it leaves listings and answers with
    /// `is_deleted: true`.
    pub fn delete_order(&mut self, id: i64) -> Result<Vec<Event>, ApiError> {
        let order = self
            .orders
            .get_mut(&id)
            .filter(|o| !o.is_deleted)
            .ok_or_else(ApiError::not_found)?;
        order.is_deleted = true;
        order.date_modified = now().max(order.date_modified);
        Ok(vec![simple_event("order", "archived", id)])
    }

    // ---- hooks ----------------------------------------------------------------------------

    pub fn create_hook(&mut self, body: &Value, client_id: &str) -> Result<Hook, ApiError> {
        let template = Hook {
            is_active: true,
            ..Default::default()
        };
        let mut hook: Hook = merged(
            &template,
            body,
            &["id", "client_id", "store_hash", "created_at", "updated_at"],
        )?;
        required_name(&hook.scope, "scope")?;
        if !(hook.destination.starts_with("http://") || hook.destination.starts_with("https://")) {
            return Err(ApiError::unprocessable("JSON data is missing or invalid")
                .with_error("destination", "destination must be an http(s) URL"));
        }
        let now = now();
        hook.id = take(&mut self.next.hook);
        hook.client_id = client_id.to_string();
        hook.store_hash = self.hash.clone();
        hook.created_at = now;
        hook.updated_at = now;
        self.hooks.insert(hook.id, hook.clone());
        Ok(hook)
    }

    pub fn update_hook(&mut self, id: i64, body: &Value) -> Result<Hook, ApiError> {
        let slot = self.hooks.get_mut(&id).ok_or_else(ApiError::not_found)?;
        let mut hook: Hook = merged(
            &*slot,
            body,
            &["id", "client_id", "store_hash", "created_at", "updated_at"],
        )?;
        hook.updated_at = now();
        *slot = hook.clone();
        Ok(hook)
    }

    pub fn delete_hook(&mut self, id: i64) -> Result<Hook, ApiError> {
        self.hooks.remove(&id).ok_or_else(ApiError::not_found)
    }
}

/// `store/product/*` matches `store/product/updated`; `*` alone matches everything.
pub fn scope_matches(pattern: &str, scope: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => scope.starts_with(prefix),
        None => pattern == scope,
    }
}

/// A JSON object of one record with a few more fields (the `include`s of a product).
pub fn with_fields(record: &impl Serialize, extra: Vec<(&str, Value)>) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for (k, v) in extra {
            map.insert(k.to_string(), v);
        }
    }
    value
}

pub type JsonMap = Map<String, Value>;
