//! The registration of the `bigcommerce` namespace: one line per model.

use super::{Declaration, Registry, RegistryBuilder};
use entity::bigcommerce::*;

const PERMISSION_SETS: &[&str] = &[
    "app_only",
    "read",
    "write",
    "read_and_sf_access",
    "write_and_sf_access",
];
const RESOURCE_TYPES: &[&str] = &["product", "variant", "category", "brand", "order", "customer"];

pub fn registry() -> Registry {
    // Every model copied from BigCommerce is identified by its BigCommerce id within its store.
    let d = |ns, api| Declaration::new(ns, api).unique("bigcommerceId", Some("store"));
    let store = Declaration::new;
    RegistryBuilder::default()
        .model::<store::Entity>(
            store("bigcommerce", "store")
                .unique("storeHash", None)
                .search(&["storeHash", "ownerEmail"])
                .enumeration("state", &["installed", "uninstalled"])
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
        .build()
}
