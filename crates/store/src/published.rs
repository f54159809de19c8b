//! What the writer shares with the threads around it (the syncer, readers, request tasks):
//! the state it publishes, and the callback that answers an operation once its batch's fate
//! is known. A module of its own so the writer and the syncer both depend on it, not on each
//! other.

use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::StoreError;

/// Delivers an operation's answer once the batch's fate is known: `None` when it committed.
pub(crate) type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;

/// State the writer publishes for other threads.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// When the next pending transfer expires (ns), `u64::MAX` if none: the ticker wakes the
    /// writer then, so expiries are persisted even when no one writes.
    pub next_expiry_ns: AtomicU64,
    pub batches_committed: AtomicU64,
    pub batches_failed: AtomicU64,
    /// Operations (`Store::write` calls) the writer ran.
    pub operations: AtomicU64,
    /// Nanoseconds the writer spent running operations (ledger rules and their own SQL).
    pub apply_ns: AtomicU64,
    /// Nanoseconds spent writing the ledger's changes.
    pub persist_ns: AtomicU64,
    /// Nanoseconds spent in COMMIT (with the fsync, unless a syncer does that).
    pub commit_ns: AtomicU64,
    /// Log syncs done by the syncer, and nanoseconds spent in them.
    pub syncs: AtomicU64,
    pub sync_ns: AtomicU64,
    /// The disk failed to confirm a write: no more writes are accepted.
    pub poisoned: AtomicBool,
    /// The ledger timestamp up to which everything is durable: readers see nothing newer.
    pub durable_ts: AtomicU64,
    /// How many committed batches are durable (batches are numbered by `batches_committed`).
    pub durable_batches: AtomicU64,
    /// Woken whenever `durable_batches` advances.
    pub durable_notify: tokio::sync::Notify,
    /// Advances after every commit that may have changed or removed a credential: cached
    /// credentials read before it are no longer served (see `credentials`).
    pub credentials_epoch: AtomicU64,
    /// The tables' roles the crates that own them registered (see `roles`).
    pub roles: crate::roles::Registry,
}
