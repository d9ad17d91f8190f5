//! The tenant: which stores' rows a caller reaches. This is the one place the
//! tenant predicate is written; reads, writes, the queue and the handlers all ask it.
//!
//! There are three cases and no default: an identity that is neither the system nor
//! bound to a store reaches no row of a store-scoped model, whatever its grants say.

use super::sql::Sql;
use crate::model::Model;

/// Which stores' rows a caller reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// Internal work and `system-admin`: every store.
    System,
    /// One store's rows, and nothing else.
    Store(i64),
    /// No store: no row of a store-scoped model (anonymous, a store-less role).
    None,
}

impl Tenant {
    /// May this tenant reach a row of store `store`?
    pub fn admits(self, store: i64) -> bool {
        match self {
            Tenant::System => true,
            Tenant::Store(own) => own == store,
            Tenant::None => false,
        }
    }

    /// The store, for a one-store tenant.
    pub fn store(self) -> Option<i64> {
        match self {
            Tenant::Store(id) => Some(id),
            _ => None,
        }
    }

    /// Every store's rows: the system.
    pub fn is_system(self) -> bool {
        self == Tenant::System
    }

    /// The same tenant narrowed to `store`: a one-store view for code that acts for a
    /// store it was given. A tenant that may not reach the store reaches nothing.
    pub fn narrowed_to(self, store: i64) -> Tenant {
        if self.admits(store) {
            Tenant::Store(store)
        } else {
            Tenant::None
        }
    }

    /// Append ` AND <alias>.<scope column> = ?` (or ` AND 1=0`) for a store-scoped
    /// `model`; nothing for the system or a model no store owns.
    ///
    /// `drives`: may the condition choose the index? Where ids or a foreign key select
    /// the rows, it is written `+store_id = ?`: a planner without fresh statistics would
    /// otherwise prefer the store's index and read every row of the store (SQLite has
    /// none; PostgreSQL's are stale while a sync fills a table: the variants' product
    /// link check went from 1 ms to 118 ms a page). The unary `+` keeps the column out
    /// of index selection on both databases.
    pub fn restrict(self, sql: &mut Sql, model: &Model, alias: &str, drives: bool) {
        let Some(field) = model.tenant_scope() else {
            return;
        };
        match self {
            Tenant::System => {}
            Tenant::None => {
                sql.push(" AND 1=0");
            }
            Tenant::Store(store) => {
                sql.push(" AND ");
                if !drives {
                    sql.push("+");
                }
                sql.column(alias, &model.fields[field].column)
                    .push(" = ")
                    .bind(store.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Registry;
    use sea_orm::DbBackend;

    #[test]
    fn three_cases() {
        assert!(Tenant::System.admits(7));
        assert!(Tenant::Store(7).admits(7));
        assert!(!Tenant::Store(7).admits(8));
        assert!(!Tenant::None.admits(7));
        assert_eq!(Tenant::Store(7).narrowed_to(8), Tenant::None);
        assert_eq!(Tenant::System.narrowed_to(8), Tenant::Store(8));
        assert_eq!(Tenant::None.narrowed_to(8), Tenant::None);

        let registry = Registry::bigcommerce();
        let product = registry.find("bigcommerce/product").unwrap();
        let text = |tenant: Tenant, drives| {
            let mut sql = Sql::new(DbBackend::Sqlite);
            tenant.restrict(&mut sql, product, "t0", drives);
            sql.build().sql
        };
        assert_eq!(text(Tenant::System, true), "");
        assert_eq!(text(Tenant::None, true), " AND 1=0");
        assert_eq!(text(Tenant::Store(3), true), " AND t0.\"store_id\" = ?");
        assert_eq!(text(Tenant::Store(3), false), " AND +t0.\"store_id\" = ?");
        let store = registry.find("bigcommerce/store").unwrap();
        let mut sql = Sql::new(DbBackend::Sqlite);
        Tenant::Store(3).restrict(&mut sql, store, "t0", true);
        assert_eq!(sql.build().sql, " AND t0.\"id\" = ?");
    }
}
