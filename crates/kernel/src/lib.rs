//! What every Cashless service uses, and nothing that belongs to one of them:
//!
//! - [`error`]: the service error (a kind the HTTP edge turns into a status, a stable code, a
//!   message in plain words, details), and its result type.
//! - the clock ([`now_ns`], [`duration_ns`]) and ids ([`Ids`], [`id_string`]);
//! - [`wire`]: money and ids as they cross the edge (decimal strings with a currency, UUIDs,
//!   page cursors);
//! - [`secrets`]: the platform's pepper and keyed fingerprints, hex, constant-time compares;
//! - [`signatures`]: Ed25519 checks of requests that arrive together, verified together;
//! - [`idempotency`]: a caller's idempotency key and the record an earlier request left;
//! - [`ids`]: `Id<K>`, an id checked where it enters, typed by the kind of thing it names
//!   (each service declares its kinds with [`id_kinds!`]).
//!
//! It must never know a consumer, a merchant, a payment or a route.

pub mod error;
pub mod idempotency;
pub mod ids;
pub mod keys;
pub mod secrets;
pub mod signatures;
pub mod wire;

use std::sync::Mutex;
use std::time::Duration;

use cashless_ledger::{AccountId, TimeOrderedIds};

pub use cashless_consumer::rfc3339;
pub use error::{ErrorKind, ServiceError, ServiceResult};
pub use secrets::Secrets;

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    // Full precision, like the writer's batch clock: a key revoked at `t` must already be
    // refused by a check a microsecond later, not only from the next millisecond.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// A duration in nanoseconds (saturating).
pub fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Seconds in `ns`, rounded up (for "retry after" hints).
pub fn secs_ceil(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

/// An id as rows and the wire carry it: a UUID string.
pub fn id_string(id: u128) -> String {
    AccountId(id).to_string()
}

/// Fresh, unguessable, time-ordered ids (UUIDv7): new rows append to the end of their index.
#[derive(Debug)]
pub struct Ids(Mutex<TimeOrderedIds>);

impl Default for Ids {
    fn default() -> Ids {
        Ids(Mutex::new(TimeOrderedIds::new()))
    }
}

impl Ids {
    pub fn new_id(&self) -> u128 {
        let entropy: u128 = rand::random();
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next(now_ms(), entropy)
    }

    /// [`Ids::new_id`] as a UUID string.
    pub fn new_id_string(&self) -> String {
        id_string(self.new_id())
    }
}

/// Every transfer of a batch the ledger was given applied. Callers check what the ledger can
/// refuse (balances, accounts) before they write, so a refusal here is the platform's fault.
pub fn check_applied(
    what: &str,
    results: &[cashless_ledger::CreateTransferResult],
) -> ServiceResult<()> {
    if results
        .iter()
        .all(|result| *result == cashless_ledger::CreateTransferResult::Ok)
    {
        Ok(())
    } else {
        Err(ServiceError::internal(format!(
            "{what} transfers refused: {results:?}"
        )))
    }
}
