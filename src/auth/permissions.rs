//! Who may read which model and run which action: roles and their grants.
//!
//! The defaults follow the contract; a JSON file named by `BCGRAPH_PERMISSIONS`
//! replaces them:
//!
//! ```json
//! {"Role-BigCommerce-App": {"models": {"bigcommerce/*": ["read", "create", "update", "delete"],
//!                                      "bigcommerce/store": ["read"]},
//!                           "globalActions": ["bigcommerce/*"]}}
//! ```
//! `system-admin` may always do everything.

use super::{ROLE_ADMIN, ROLE_APP};
use crate::model::Model;
use serde::Deserialize;
use std::collections::HashMap;

/// The operations a grant names. Upserts need `create` and `update`.
pub const OPERATIONS: &[&str] = &["read", "create", "update", "delete"];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleGrants {
    /// `namespace/model` (or `namespace/*`) → operations.
    #[serde(default)]
    pub models: HashMap<String, Vec<String>>,
    /// `namespace/action` or `namespace/*`; a root action is named alone.
    #[serde(default)]
    pub global_actions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Permissions {
    roles: HashMap<String, RoleGrants>,
}

impl Default for Permissions {
    /// The contract's defaults: a merchant's staff user reads and writes the
    /// `bigcommerce` models (the store itself read-only) and runs its global actions;
    /// `unauthenticated` gets nothing but `currentSession`.
    fn default() -> Self {
        let all: Vec<String> = OPERATIONS.iter().map(|s| s.to_string()).collect();
        let app = RoleGrants {
            models: HashMap::from([
                ("bigcommerce/*".to_owned(), all),
                ("bigcommerce/store".to_owned(), vec!["read".to_owned()]),
            ]),
            global_actions: vec!["bigcommerce/*".to_owned()],
        };
        Permissions {
            roles: HashMap::from([(ROLE_APP.to_owned(), app)]),
        }
    }
}

impl Permissions {
    /// Parse a permissions file; unknown operations are an error.
    pub fn from_json(text: &str) -> Result<Permissions, String> {
        let roles: HashMap<String, RoleGrants> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for (role, grants) in &roles {
            for (model, ops) in &grants.models {
                if let Some(bad) = ops.iter().find(|op| !OPERATIONS.contains(&op.as_str())) {
                    return Err(format!("{role}: {model}: unknown operation `{bad}`"));
                }
            }
        }
        Ok(Permissions { roles })
    }

    /// Add `operations` on `model` (`namespace/apiId` or `namespace/*`) to `role`'s grants.
    pub fn grant(&mut self, role: &str, model: &str, operations: &[String]) {
        let ops = self
            .roles
            .entry(role.to_owned())
            .or_default()
            .models
            .entry(model.to_owned())
            .or_default();
        for op in operations {
            if !ops.contains(op) {
                ops.push(op.clone());
            }
        }
    }

    /// Let `role` run the global action `name` (`name`, `namespace/name`, `namespace/*`).
    pub fn grant_action(&mut self, role: &str, name: &str) {
        let grants = self.roles.entry(role.to_owned()).or_default();
        if !grants.global_actions.iter().any(|n| n == name) {
            grants.global_actions.push(name.to_owned());
        }
    }

    /// May a caller with `roles` perform `operation` on `model`?
    pub fn allows(&self, roles: &[String], model: &Model, operation: &str) -> bool {
        let exact = format!("{}/{}", model.namespace, model.api_id);
        let wildcard = format!("{}/*", model.namespace);
        roles.iter().any(|role| {
            role == ROLE_ADMIN
                || self.roles.get(role).is_some_and(|grants| {
                    // The exact entry wins over the namespace wildcard.
                    let ops = grants.models.get(&exact).or_else(|| grants.models.get(&wildcard));
                    ops.is_some_and(|ops| ops.iter().any(|op| op == operation))
                })
        })
    }

    /// May a caller with `roles` run the global action `name` (`namespace/action`)?
    pub fn allows_global(&self, roles: &[String], namespace: Option<&str>, name: &str) -> bool {
        let exact = match namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        let wildcard = namespace.map(|ns| format!("{ns}/*"));
        roles.iter().any(|role| {
            role == ROLE_ADMIN
                || self.roles.get(role).is_some_and(|grants| {
                    grants
                        .global_actions
                        .iter()
                        .any(|g| *g == exact || Some(g) == wildcard.as_ref())
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Registry;

    #[test]
    fn defaults_and_files() {
        let registry = Registry::bigcommerce();
        let product = registry.find("bigcommerce/product").unwrap();
        let store = registry.find("bigcommerce/store").unwrap();
        let p = Permissions::default();
        let app = vec![ROLE_APP.to_owned()];
        let anon = vec!["unauthenticated".to_owned()];
        assert!(p.allows(&app, product, "delete"));
        assert!(p.allows(&app, store, "read"));
        assert!(!p.allows(&app, store, "update"));
        assert!(!p.allows(&anon, product, "read"));
        assert!(p.allows(&[ROLE_ADMIN.to_owned()], store, "delete"));
        assert!(p.allows_global(&app, Some("bigcommerce"), "pullProduct"));
        assert!(!p.allows_global(&anon, Some("bigcommerce"), "pullProduct"));

        let read_only =
            Permissions::from_json(r#"{"Role-BigCommerce-App": {"models": {"bigcommerce/*": ["read"]}}}"#)
                .unwrap();
        assert!(read_only.allows(&app, product, "read"));
        assert!(!read_only.allows(&app, product, "create"));
        assert!(Permissions::from_json(r#"{"x": {"models": {"bigcommerce/*": ["fly"]}}}"#).is_err());
        assert!(Permissions::from_json(r#"{"x": {"nope": 1}}"#).is_err());
    }
}
