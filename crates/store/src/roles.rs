//! What the crates that own tables tell the store about them.
//!
//! The store knows no domain table by name. A crate registers its tables' roles when its
//! service is built ([`crate::Store::register`]): which tables hold credentials (cached by
//! readers through `CredentialCache`, forgotten when a write may change one), which rows the
//! writer keeps between operations (`WriteTx::cached`), and which statements fold recent rows
//! into keyed indexes (run by the writer's fold, with the idempotency records).
//!
//! A write "may change" a table when its statement updates, deletes or upserts it, or, for any
//! shape not read exactly (`WITH …`, DDL, several statements), when it names the table at all
//! (see `db::changes`). The test `every_statement_in_the_code_is_classified` reads every SQL
//! text in the workspace and fails on one that names a registered table in a shape it cannot
//! read exactly.

use std::sync::{Arc, Mutex, PoisonError};

/// One crate's tables and what they are to the store.
#[derive(Clone, Copy, Debug)]
pub struct TableRoles {
    /// Tables whose rows vouch for a caller (sessions, keys): readers may cache them until a
    /// write may change or remove one.
    pub credentials: &'static [&'static str],
    /// Tables whose rows the writer keeps between operations (`WriteTx::cached`).
    pub cached: &'static [&'static str],
    /// Statements folding recent rows into keyed indexes, run in the writer's fold
    /// transaction: each must be idempotent.
    pub folds: &'static [&'static str],
}

/// The most cached tables (their changes are bits of a `u32`).
pub(crate) const CACHED_TABLES_MAX: usize = 32;

/// Every registered role, as the writer and its connection read them.
#[derive(Debug, Default)]
pub(crate) struct Roles {
    pub credentials: Vec<&'static str>,
    pub cached: Vec<&'static str>,
    pub folds: Vec<&'static str>,
}

/// The registered roles, shared by the store's handles and its writer.
#[derive(Debug, Default)]
pub(crate) struct Registry(Mutex<Arc<Roles>>);

impl Registry {
    /// Adds `roles` (again is harmless); panics past [`CACHED_TABLES_MAX`] cached tables, a
    /// bug caught at start-up.
    pub fn register(&self, roles: TableRoles) {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Roles {
            credentials: current.credentials.clone(),
            cached: current.cached.clone(),
            folds: current.folds.clone(),
        };
        let add = |list: &mut Vec<&'static str>, items: &[&'static str]| {
            for item in items {
                if !list.contains(item) {
                    list.push(item);
                }
            }
        };
        add(&mut next.credentials, roles.credentials);
        add(&mut next.cached, roles.cached);
        add(&mut next.folds, roles.folds);
        assert!(
            next.cached.len() <= CACHED_TABLES_MAX,
            "at most {CACHED_TABLES_MAX} cached tables"
        );
        *current = Arc::new(next);
    }

    pub fn current(&self) -> Arc<Roles> {
        Arc::clone(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
