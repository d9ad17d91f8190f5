//! The registration of the `bigcommerce` namespace: one line per model.

use super::{Declaration, RegistryBuilder};
use entity::bigcommerce::*;

const PERMISSION_SETS: &[&str] = &[
    "app_only",
    "read",
    "write",
    "read_and_sf_access",
    "write_and_sf_access",
];
const RESOURCE_TYPES: &[&str] = &["product", "variant", "category", "brand", "order", "customer"];

/// The built-in models' names (`namespace/apiId`), for code that names one: a typo is
/// then a compile error, and the registry test checks that each resolves.
pub mod names {
    /// A merchant's store: the tenant every other model belongs to.
    pub const STORE: &str = "bigcommerce/store";
    /// A catalog product.
    pub const PRODUCT: &str = "bigcommerce/product";
    /// A product's variant.
    pub const PRODUCT_VARIANT: &str = "bigcommerce/productVariant";
    /// A metafield of a product, variant, category, brand, customer or order.
    pub const METAFIELD: &str = "bigcommerce/metafield";
    /// A catalog category.
    pub const CATEGORY: &str = "bigcommerce/category";
    /// A catalog brand.
    pub const BRAND: &str = "bigcommerce/brand";
    /// A customer.
    pub const CUSTOMER: &str = "bigcommerce/customer";
    /// An order.
    pub const ORDER: &str = "bigcommerce/order";
    /// A line of an order.
    pub const ORDER_PRODUCT: &str = "bigcommerce/orderProduct";
    /// A sync of a store's data from BigCommerce.
    pub const SYNC: &str = "bigcommerce/sync";
    /// Every built-in model.
    pub const ALL: &[&str] = &[
        STORE,
        PRODUCT,
        PRODUCT_VARIANT,
        METAFIELD,
        CATEGORY,
        BRAND,
        CUSTOMER,
        ORDER,
        ORDER_PRODUCT,
        SYNC,
    ];
}

/// The built-in models, added to `builder`.
pub(super) fn declare(builder: RegistryBuilder) -> RegistryBuilder {
    // Every model copied from BigCommerce is identified by its BigCommerce id within its store.
    let d = |ns, api| Declaration::new(ns, api).unique("bigcommerceId", Some("store"));
    let store = Declaration::new;
    builder
        .model::<store::Entity>(
            store("bigcommerce", "store")
                .unique("storeHash", None)
                .search(&["storeHash", "ownerEmail"])
                .enumeration("state", crate::bigcommerce::stores::StoreState::ALL)
                // The platform's field: a store the system creates is installed.
                .default_value("state", "installed")
                .hidden(&["accessToken"])
                // Everything BigCommerce's install grant says; an app's own fields stay writable.
                .platform(&[
                    "storeHash",
                    "state",
                    "accessToken",
                    "scopes",
                    "accountUuid",
                    "ownerId",
                    "ownerEmail",
                    "installedAt",
                    "uninstalledAt",
                ]),
        )
        .model::<product::Entity>(
            d("bigcommerce", "product")
                .search(&["name", "sku"])
                .enumeration("type", &["physical", "digital"])
                .enumeration("inventoryTracking", &["none", "product", "variant"]),
        )
        .model::<product_variant::Entity>(d("bigcommerce", "productVariant").search(&["sku"]))
        .model::<metafield::Entity>(
            d("bigcommerce", "metafield")
                .search(&["key", "namespace", "value"])
                .enumeration("permissionSet", PERMISSION_SETS)
                .enumeration("resourceType", RESOURCE_TYPES),
        )
        .model::<category::Entity>(
            d("bigcommerce", "category")
                .plural("categories")
                .search(&["name"]),
        )
        .model::<brand::Entity>(d("bigcommerce", "brand").search(&["name"]))
        .model::<customer::Entity>(d("bigcommerce", "customer").search(&[
            "email",
            "firstName",
            "lastName",
            "company",
        ]))
        .model::<order::Entity>(d("bigcommerce", "order").search(&["status", "currencyCode"]))
        .model::<order_product::Entity>(d("bigcommerce", "orderProduct").search(&["name", "sku"]))
        .model::<sync::Entity>(
            Declaration::new("bigcommerce", "sync")
                .enumeration("state", crate::bigcommerce::sync::STATES)
                .hidden(&["checkpoint", "leaseUntil"])
                .actions_only(),
        )
        .tenant("bigcommerce", "store")
}
