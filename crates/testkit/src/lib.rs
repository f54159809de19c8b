#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Test fixtures shared by the crates' integration tests: a fresh database per test, on either
//! backend, and helpers to run one test body against both.
//!
//! PostgreSQL tests use the server at `CASHLESS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and create their own database. If it cannot
//! be reached they fail, unless `CASHLESS_SKIP_POSTGRES=1` is set outside CI (the test script
//! sets it only after failing to start a server, and says so loudly).

pub mod people;
#[cfg(feature = "wallet")]
pub mod wallet;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, CreateAccountResult, Currency, TimeOrderedIds,
};
use cashless_store::{Location, Store, StoreConfig};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs blocking PostgreSQL admin work off the async runtime's thread.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().expect("blocking helper panicked"))
}

pub fn postgres_admin_url() -> String {
    std::env::var("CASHLESS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether PostgreSQL tests may be skipped: only when told to, and never in CI.
pub fn postgres_skip_allowed() -> bool {
    std::env::var("CI").is_err() && std::env::var("CASHLESS_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{}_{:08x}",
        std::process::id(),
        n,
        rand::random::<u32>()
    )
}

/// A fresh, empty database that is removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub location: Location,
    dir: Option<PathBuf>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique_name("cashless_test"));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb {
            location: Location::Sqlite(dir.join("cashless.db")),
            dir: Some(dir),
            postgres_name: None,
        }
    }

    /// `None` only when skipping PostgreSQL is allowed and it is unreachable.
    pub fn postgres() -> Option<TestDb> {
        let admin = postgres_admin_url();
        let name = unique_name("cashless_test");
        let created = blocking(|| {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        });
        if let Err(error) = created {
            if postgres_skip_allowed() {
                eprintln!("!!! SKIPPING a PostgreSQL test: {admin} unreachable ({error})");
                return None;
            }
            panic!(
                "PostgreSQL is required for this test but {admin} is unreachable: {error}\n\
                 Start one, set CASHLESS_TEST_POSTGRES_URL, or run ./scripts/test which starts a \
                 throwaway server."
            );
        }
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("bad CASHLESS_TEST_POSTGRES_URL {admin}"),
        };
        Some(TestDb {
            location: Location::Postgres(url),
            dir: None,
            postgres_name: Some(name),
        })
    }

    pub fn config(&self) -> StoreConfig {
        StoreConfig::new(self.location.clone())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.postgres_name {
            let admin = postgres_admin_url();
            blocking(|| {
                if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            });
        }
    }
}

/// Generates one `#[tokio::test]` per backend for an `async fn(TestDb)` in scope:
/// `both_backends!(my_test);` makes `sqlite::my_test` and `postgres::my_test`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres() else { return };
                    super::$name(db).await;
                }
            )*
        }
    };
}

/// Time-ordered ids, as production callers make them.
#[derive(Debug)]
pub struct Ids(TimeOrderedIds);

impl Default for Ids {
    fn default() -> Ids {
        Ids::new()
    }
}

impl Ids {
    pub fn new() -> Ids {
        Ids(TimeOrderedIds::new())
    }

    pub fn new_id(&mut self) -> u128 {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        self.0.next(ms, rand::random())
    }
}

pub async fn open(config: StoreConfig) -> Store {
    Store::open(config).await.expect("store opens")
}

/// Creates accounts and asserts they were created.
pub async fn create_accounts(store: &Store, accounts: &[(AccountId, AccountFlags)]) {
    let accounts: Vec<Account> = accounts
        .iter()
        .map(|(id, flags)| Account::new(*id, Currency::CNY, AccountKind::Wallet, *flags))
        .collect();
    let results = store.create_accounts(accounts).await.unwrap();
    assert!(
        results.iter().all(|r| *r == CreateAccountResult::Ok),
        "{results:?}"
    );
}

/// Audits the books from storage alone and fails the test on any break (unbalanced
/// currencies, balances that disagree with their transfers, crossed constraints …).
pub async fn assert_books_balance(store: &Store) {
    let audit = store
        .read(|conn| {
            let now_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            cashless_store::audit::audit_ledger(conn, now_ns, &mut |_, _| {})
        })
        .await
        .unwrap();
    assert!(audit.passed(), "the ledger audit found breaks: {audit:?}");
}
