//! The group-commit writer: one thread that owns the in-memory ledger and the one write
//! connection.
//!
//! Callers queue operations; the writer takes whatever is queued (up to `batch_ops_max`), runs
//! each operation inside its own savepoint against the ledger and the open transaction, writes
//! the ledger's changes, commits ONCE, and only then answers every caller. Many payments
//! share one fsync, and a hot merchant account is written once per batch, not once per payment.

use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use cashless_ledger::{
    Account, AccountId, Batch, CreateAccountResult, CreateTransferResult, IdMap, Ledger,
    LedgerConfig, Transfer,
};
use tokio::sync::mpsc;

use crate::db::{Backend, Conn, Guard};
use crate::idempotency::{IdempotencyRecord, Recent};
use crate::ledger_sql::{self, AccountRow, ColdLookup, SlotWriter, Slots};
use crate::published::{Deliver, Shared};
use crate::{Location, StoreError, now_ns};

/// An operation run by the writer inside a batch; it answers its caller through `Completion`.
pub(crate) type Job = Box<dyn FnOnce(&mut WriteTx<'_, '_>) -> Completion + Send>;

pub(crate) struct Completion {
    /// The operation failed: roll back what it did, keep the rest of the batch.
    pub failed: bool,
    pub deliver: Deliver,
}

pub(crate) enum Command {
    Job(Job),
    /// Finish what is queued before this, then stop.
    Shutdown(tokio::sync::oneshot::Sender<()>, Stop),
}

/// What an operation sees: the ledger inside the current batch, and the open transaction.
///
/// An operation that fails is undone alone: its ledger changes roll back in memory, and its
/// statements to a savepoint that opens before its first write ([`WriteTx::conn`]). An
/// operation that makes all its checks before it writes can skip the savepoint
/// ([`WriteTx::conn_final`]): on SQLite a savepoint copies every page the operation changes.
pub struct WriteTx<'b, 'l> {
    batch: &'b mut Batch<'l>,
    conn: &'b mut Conn,
    rows: &'b mut RowCache,
    recent: &'b mut Recent,
    /// Where the ledger's changes roll back to if the operation fails.
    ledger_savepoint: cashless_ledger::Savepoint,
}

impl std::fmt::Debug for WriteTx<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx")
            .field("now", &self.batch.now())
            .finish()
    }
}

impl WriteTx<'_, '_> {
    /// The batch's clock, nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.batch.now()
    }

    pub fn create_accounts(&mut self, accounts: &[Account]) -> Vec<CreateAccountResult> {
        self.batch.create_accounts(accounts)
    }

    /// Applies transfers to the ledger; they are written when the batch commits. If a lookup
    /// of an evicted transfer fails, none of `transfers` is applied.
    pub fn create_transfers(
        &mut self,
        transfers: &[Transfer],
    ) -> Result<Vec<CreateTransferResult>, StoreError> {
        let savepoint = self.batch.savepoint();
        let results = self
            .batch
            .create_transfers(transfers, &mut ColdLookup(self.conn));
        results.map_err(|error| {
            self.batch.rollback_to(savepoint);
            StoreError::from(error)
        })
    }

    /// Applies transfers all or nothing (see [`Batch::create_transfers_atomically`]): on a
    /// rejection nothing is applied except the remembered failure, so a retry of the same id
    /// answers the same.
    pub fn create_transfers_atomically(
        &mut self,
        transfers: &[Transfer],
    ) -> Result<Vec<CreateTransferResult>, StoreError> {
        self.batch
            .create_transfers_atomically(transfers, &mut ColdLookup(self.conn))
            .map_err(StoreError::from)
    }

    /// An account as it stands in this batch (including this batch's changes so far).
    pub fn account(&self, id: AccountId) -> Option<Account> {
        self.batch.account(id).copied()
    }

    /// The open transaction, for the operation's own rows. If the operation fails, what it
    /// writes from here is rolled back without touching the rest of the batch: a savepoint
    /// opens before its first statement that may write.
    pub fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if matches!(self.conn.guard, Guard::Off | Guard::Kept) {
            self.conn.guard = Guard::Lazy;
        }
        Ok(self.conn)
    }

    /// The open transaction for an operation's last part: it promises that it will not fail
    /// from here (every check is made), so its writes need no savepoint. Should it fail
    /// anyway after writing, nothing can undo those writes alone, and the writer abandons
    /// the whole batch (every caller in it is told its write was not applied): a bug, never
    /// bad input. A database error fails the batch either way.
    pub fn conn_final(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.guard != Guard::Open {
            self.conn.guard = Guard::Final;
        }
        Ok(self.conn)
    }

    /// Keeps everything the operation did so far even if it fails afterwards: a failure then
    /// rolls back only what comes after this call.
    pub fn keep_so_far(&mut self) -> Result<(), StoreError> {
        if self.conn.guard == Guard::Open {
            self.conn.control("RELEASE SAVEPOINT op")?;
        }
        if self.conn.guard != Guard::Final {
            self.conn.guard = Guard::Kept;
        }
        self.ledger_savepoint = self.batch.savepoint();
        self.recent.keep_op();
        Ok(())
    }

    /// The record an earlier request with the user's Idempotency-Key left, if any, this
    /// batch's included (see `idempotency`): recent ones from memory, older ones from the
    /// keyed table.
    pub fn idempotency(
        &mut self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, crate::DbError> {
        if let Some(record) = self.recent.get(user_id, key) {
            return Ok(Some(record.clone()));
        }
        crate::idempotency::folded_record(self.conn, user_id, key)
    }

    /// Records what the user's Idempotency-Key made. The caller has looked the key up
    /// ([`WriteTx::idempotency`]) in this operation and found nothing. Written like
    /// [`WriteTx::conn`]'s writes (or without a savepoint after [`WriteTx::conn_final`]).
    pub fn remember_idempotency(
        &mut self,
        user_id: &str,
        key: &str,
        record: IdempotencyRecord,
    ) -> Result<(), crate::DbError> {
        if matches!(self.conn.guard, Guard::Off | Guard::Kept) {
            self.conn.guard = Guard::Lazy;
        }
        let now = self.batch.now();
        self.recent.remember(self.conn, user_id, key, record, now)
    }

    /// The row of one of the writer's cached tables (registered by their owners as `cached`)
    /// that `key` names, read by `load` the first time and kept between operations and
    /// batches for up to a second (so a change made outside the writer, an operator's SQL,
    /// shows within it): a payment reads its merchant and payer without a statement. The whole table's
    /// rows are forgotten as soon as any statement may change or remove one of them, when an
    /// operation that wrote is rolled back, and when a batch fails. `load` must read exactly
    /// the row `key` names, and nothing else. Only rows found are kept.
    pub fn cached<T: Clone + Send + 'static>(
        &mut self,
        table: &'static str,
        key: &str,
        load: impl FnOnce(&mut Conn) -> Result<Option<T>, crate::DbError>,
    ) -> Result<Option<T>, crate::DbError> {
        let Some(n) = self
            .conn
            .roles
            .cached
            .iter()
            .position(|name| *name == table)
        else {
            // Not registered as cached (`Store::register`): read, never kept.
            return load(self.conn);
        };
        self.rows.forget(self.conn.take_cached_changed());
        if let Some(value) = self.rows.tables[n]
            .get(key)
            .filter(|(read, _)| read.elapsed() < ROW_CACHED_FOR)
            .and_then(|(_, value)| value.downcast_ref::<T>())
        {
            return Ok(Some(value.clone()));
        }
        let value = load(self.conn)?;
        self.rows.forget(self.conn.take_cached_changed());
        if let Some(value) = &value {
            let rows = &mut self.rows.tables[n];
            if rows.len() >= ROWS_CACHED_MAX {
                rows.clear();
            }
            rows.insert(key.to_owned(), (Instant::now(), Box::new(value.clone())));
        }
        Ok(value)
    }

    /// The open transaction for writes that stick even if the operation then fails, with
    /// everything it did before them ([`WriteTx::keep_so_far`]): such as using up a signed
    /// request's nonce before acting on the request. No savepoint is needed for them; call
    /// [`WriteTx::conn`] again for writes that must roll back with a failure.
    pub fn conn_kept(&mut self) -> Result<&mut Conn, StoreError> {
        self.keep_so_far()?;
        Ok(self.conn)
    }
}

/// Rows a table of the writer's cache holds before it starts over.
const ROWS_CACHED_MAX: usize = 100_000;

/// How long the writer serves a cached row: the writer sees its own changes at once, and a
/// change made outside it (an operator's SQL, say) within this.
const ROW_CACHED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// A cached row and when it was read.
type CachedRow = (Instant, Box<dyn Any + Send>);

/// The writer's cached rows (see [`WriteTx::cached`]), by table in the order of the
/// registered cached tables.
#[derive(Default)]
pub(crate) struct RowCache {
    tables: Vec<HashMap<String, CachedRow>>,
}

impl RowCache {
    /// Starts over with one empty table per registered cached table.
    fn reset(&mut self, tables: usize) {
        self.tables = (0..tables).map(|_| HashMap::new()).collect();
    }

    /// Forgets the tables whose bits are set.
    fn forget(&mut self, tables: u32) {
        for (n, rows) in self.tables.iter_mut().enumerate() {
            if tables & 1 << n != 0 {
                rows.clear();
            }
        }
    }

    fn forget_all(&mut self) {
        self.forget(u32::MAX);
    }
}

pub(crate) struct Writer {
    pub conn: Conn,
    pub ledger: Ledger,
    pub slots: Slots,
    pub commands: mpsc::Receiver<Command>,
    pub location: Location,
    pub ledger_config: LedgerConfig,
    pub batch_ops_max: usize,
    pub shared: Arc<Shared>,
    /// A commit failed in a way that may have left memory and database apart: rebuild memory
    /// from the database (the source of truth) before the next batch.
    pub needs_reload: bool,
    /// SQLite: makes commits durable off the writer's thread (see `sync`). Without one,
    /// COMMIT itself is durable (PostgreSQL).
    pub syncer: Option<crate::sync::Syncer>,
    /// Accounts as readers see them: updated after every commit.
    pub published: Published,
    pub checkpoints: CheckpointConfig,
    pub last_checkpoint: Instant,
    pub rows: RowCache,
    /// Idempotency records not yet folded into their keyed table (see `idempotency`).
    pub recent: Recent,
}

/// Accounts and their list heads, as of the last commit, shared with readers.
pub(crate) type Published = Arc<RwLock<IdMap<AccountId, AccountRow>>>;

/// Every account of `ledger`, as readers see it.
pub(crate) fn published_accounts(ledger: &Ledger, slots: &Slots) -> IdMap<AccountId, AccountRow> {
    ledger
        .accounts()
        .map(|account| {
            (
                account.id,
                AccountRow {
                    account: *account,
                    head: slots.get(account.id).head,
                },
            )
        })
        .collect()
}

/// When account balances are written back to their rows.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointConfig {
    /// At most this many transfers between checkpoints: bounds start-up replay.
    pub transfers_max: u64,
    /// And at least this often while anything changed.
    pub interval: std::time::Duration,
}

/// How the writer stops.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stop {
    /// Checkpoint balances first, so the next start-up has nothing to replay.
    Clean,
    /// Stop right after the last commit, as a crash would.
    Halt,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Checkpoint {
    WhenDue,
    Now,
}

/// Writes the batch (and the checkpoint, if due) and commits; says whether it checkpointed.
fn persist_and_commit(
    conn: &mut Conn,
    batch: &Batch<'_>,
    links: &mut SlotWriter<'_>,
    checkpoint_due: bool,
    shared: &Shared,
    [started, applied]: [Instant; 2],
) -> Result<bool, crate::DbError> {
    ledger_sql::persist(conn, &batch.changes(), links)?;
    if checkpoint_due {
        let slots = links.slots();
        let rows: Vec<(ledger_sql::Slot, cashless_ledger::Account)> = slots
            .dirty()
            .iter()
            .filter_map(|id| batch.account(*id).map(|account| (slots.get(*id), *account)))
            .collect();
        ledger_sql::write_checkpoint(conn, &rows, batch.ledger().timestamp())?;
    }
    if !batch.is_balanced() {
        // A bug, never bad input: refuse to make it durable.
        return Err(crate::DbError::decode(
            "the batch would leave debits and credits unequal",
        ));
    }
    let persisted = Instant::now();
    conn.commit()?;
    let elapsed = |from: Instant, to: Instant| (to - from).as_nanos() as u64;
    shared
        .apply_ns
        .fetch_add(elapsed(started, applied), Ordering::Relaxed);
    shared
        .persist_ns
        .fetch_add(elapsed(applied, persisted), Ordering::Relaxed);
    shared
        .commit_ns
        .fetch_add(elapsed(persisted, Instant::now()), Ordering::Relaxed);
    Ok(checkpoint_due)
}

impl Writer {
    pub fn run(mut self) {
        self.publish_expiry();
        while let Some(command) = self.commands.blocking_recv() {
            let mut jobs = Vec::new();
            let mut shutdown = None;
            match command {
                Command::Job(job) => jobs.push(job),
                Command::Shutdown(done, stop) => shutdown = Some((done, stop)),
            }
            while shutdown.is_none() && jobs.len() < self.batch_ops_max {
                match self.commands.try_recv() {
                    Ok(Command::Job(job)) => jobs.push(job),
                    Ok(Command::Shutdown(done, stop)) => shutdown = Some((done, stop)),
                    Err(_) => break,
                }
            }
            if !jobs.is_empty() {
                self.execute(jobs, Checkpoint::WhenDue);
            }
            if let Some((done, stop)) = shutdown {
                if stop == Stop::Clean {
                    // A final checkpoint makes the next start-up replay nothing.
                    self.execute(Vec::new(), Checkpoint::Now);
                }
                let _ = done.send(());
                break;
            }
        }
        tracing::info!("writer stopped");
    }

    fn execute(&mut self, jobs: Vec<Job>, checkpoint: Checkpoint) {
        if !self.begin_batch() {
            return; // dropping the jobs answers each caller "not applied"
        }
        self.shared
            .operations
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let checkpoint_due = self.checkpoint_due(checkpoint);
        let Writer {
            conn,
            ledger,
            slots,
            shared,
            rows,
            recent,
            ..
        } = self;
        recent.drop_batch();
        let started = Instant::now();
        let mut batch = ledger.begin(now_ns());
        let mut deliveries: Vec<Deliver> = Vec::with_capacity(jobs.len());
        let mut failure = None;
        let mut lost = false;
        for job in jobs {
            match run_job(&mut batch, conn, rows, recent, job) {
                Ok(deliver) => deliveries.push(deliver),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            if conn.control_failed() {
                break; // reported just below; the jobs not run answer "not applied"
            }
            if conn.transaction_lost() {
                // SQLite rolled back by itself after an error (disk full, I/O): the batch is
                // gone, and whatever ran since may have committed on its own.
                failure = Some(StoreError::Internal(
                    "the database rolled the transaction back after an error".into(),
                ));
                lost = true;
                break;
            }
        }
        if failure.is_none() {
            // The deferred savepoint statements (PostgreSQL) must all have worked.
            failure = conn.flush_control().err().map(StoreError::from);
        }
        if let Some(error) = failure {
            // Nothing was committed: memory and database stay equal once both roll back.
            tracing::error!(%error, "aborting a batch");
            let _ = conn.batch_execute("ROLLBACK");
            conn.take_credentials_changed();
            rows.forget_all();
            recent.drop_batch();
            drop(batch);
            if lost {
                self.needs_reload = true;
            }
            for deliver in deliveries {
                deliver(Some(error.clone()));
            }
            shared.batches_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let applied = Instant::now();
        let mut links = SlotWriter::new(slots);
        let checkpointed = persist_and_commit(
            conn,
            &batch,
            &mut links,
            checkpoint_due,
            shared,
            [started, applied],
        );
        if conn.take_credentials_changed() {
            // Before anyone is answered, committed or not (a rolled-back change costs only
            // cache misses).
            shared.credentials_epoch.fetch_add(1, Ordering::AcqRel);
        }
        match checkpointed {
            Ok(checkpointed) => {
                let touched = std::mem::take(&mut links.touched);
                drop(links);
                batch.commit();
                self.committed(touched, deliveries, checkpointed);
            }
            Err(error) => {
                tracing::error!(%error, "batch commit failed");
                let _ = conn.batch_execute("ROLLBACK");
                self.rows.forget_all();
                self.recent.drop_batch();
                links.rollback();
                drop(batch);
                self.needs_reload = true;
                self.shared.batches_failed.fetch_add(1, Ordering::Relaxed);
                let error = StoreError::from(error);
                for deliver in deliveries {
                    deliver(Some(error.clone()));
                }
            }
        }
    }

    /// Readies a batch: picks up newly registered tables, refuses after the disk failed,
    /// reloads after a lost connection, and begins the transaction. `false`: no batch now.
    fn begin_batch(&mut self) -> bool {
        let roles = self.shared.roles.current();
        if !Arc::ptr_eq(&roles, &self.conn.roles) {
            // A crate registered its tables: watch them from this batch on.
            self.rows.reset(roles.cached.len());
            self.conn.roles = roles;
        }
        if self.shared.poisoned.load(Ordering::Relaxed) {
            tracing::error!("refusing writes: the disk failed to confirm an earlier one");
            return false;
        }
        if self.needs_reload
            && let Err(error) = self.reload()
        {
            tracing::error!(%error, "database unavailable; dropping a batch of writes");
            self.shared.batches_failed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let begin = match self.conn.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        if let Err(error) = self.conn.batch_execute(begin) {
            // Nothing was done: memory still equals the database. A broken connection is
            // reopened (and memory rebuilt) before the next batch.
            tracing::error!(%error, "cannot begin a transaction");
            self.needs_reload = self.conn.is_broken();
            self.shared.batches_failed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// After a commit: publishes the batch, answers its callers, and does what waits for a
    /// quiet moment (eviction, the next expiry, a fold).
    fn committed(&mut self, touched: Vec<AccountId>, deliveries: Vec<Deliver>, checkpointed: bool) {
        self.recent.commit_batch();
        if checkpointed {
            self.slots.checkpointed();
            self.last_checkpoint = Instant::now();
            self.fit_page_cache();
        }
        let sequence = self.shared.batches_committed.fetch_add(1, Ordering::AcqRel) + 1;
        // Readers see the batch only once it is durable: publishing is the first thing done
        // when the syncer (or, on PostgreSQL, COMMIT) confirms it.
        let mut answers = Vec::with_capacity(deliveries.len() + 1);
        answers.push(self.publication(&touched, sequence));
        answers.extend(deliveries);
        self.acknowledge(answers);
        // Off the callers' path (they are being answered meanwhile), though the next batch
        // waits for it.
        self.ledger.evict_excess();
        self.publish_expiry();
        if self.recent.fold_due() {
            self.fold_idempotency();
        }
    }

    /// Whether this batch should also write a balance checkpoint.
    fn checkpoint_due(&self, checkpoint: Checkpoint) -> bool {
        let dirty = !self.slots.dirty().is_empty();
        match checkpoint {
            Checkpoint::Now => dirty,
            Checkpoint::WhenDue => {
                self.slots.since_checkpoint >= self.checkpoints.transfers_max
                    || (dirty && self.last_checkpoint.elapsed() >= self.checkpoints.interval)
            }
        }
    }

    /// A step that makes this batch visible to readers once it is durable: the accounts it
    /// changed, and the durable timestamp that bounds transfer reads.
    fn publication(&self, touched: &[AccountId], sequence: u64) -> Deliver {
        let rows: Vec<AccountRow> = touched
            .iter()
            .filter_map(|id| {
                let account = self.ledger.account(*id)?;
                Some(AccountRow {
                    account: *account,
                    head: self.slots.get(*id).head,
                })
            })
            .collect();
        let timestamp = self.ledger.timestamp();
        let (published, shared) = (Arc::clone(&self.published), Arc::clone(&self.shared));
        Box::new(move |error| {
            if error.is_some() {
                return;
            }
            if let Ok(mut published) = published.write() {
                for row in rows {
                    published.insert(row.account.id, row);
                }
            }
            shared.durable_ts.fetch_max(timestamp, Ordering::Relaxed);
            shared.durable_batches.fetch_max(sequence, Ordering::AcqRel);
            shared.durable_notify.notify_waiters();
        })
    }

    /// Answers a committed batch's callers once it is durable.
    fn acknowledge(&self, deliveries: Vec<Deliver>) {
        let undelivered = match &self.syncer {
            Some(syncer) => match syncer.submit(deliveries) {
                Ok(()) => return,
                Err(undelivered) => undelivered,
            },
            None => {
                for deliver in deliveries {
                    deliver(None);
                }
                return;
            }
        };
        tracing::error!("the syncer stopped; the outcome of a committed batch is unknown");
        for deliver in undelivered {
            deliver(Some(StoreError::Internal(
                "the write's durability is unknown".into(),
            )));
        }
    }

    fn publish_expiry(&self) {
        let next = self.ledger.next_expiry().unwrap_or(u64::MAX);
        self.shared.next_expiry_ns.store(next, Ordering::Relaxed);
    }

    /// Sizes the page cache for the database as it is now (see [`Conn::fit_writer_cache`]).
    pub fn fit_page_cache(&mut self) {
        if let Err(error) = self.conn.fit_writer_cache() {
            tracing::warn!(%error, "cannot size the writer's page cache");
        }
    }

    /// Folds the recent idempotency records into their keyed table (see `idempotency`),
    /// between batches. A failure leaves them recent, to fold later.
    fn fold_idempotency(&mut self) {
        let begin = match self.conn.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        match self.recent.fold(&mut self.conn, begin) {
            Ok(moved) => tracing::debug!(moved, "recent rows folded"),
            Err(error) => {
                tracing::warn!(%error, "cannot fold recent rows; will retry");
                if self.conn.is_broken() {
                    self.needs_reload = true;
                }
            }
        }
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        self.rows.forget_all();
        if self.conn.is_broken() {
            self.conn = self.location.open()?;
            self.fit_page_cache();
        }
        let recovered = ledger_sql::recover(&mut self.conn, self.ledger_config)?;
        self.ledger = recovered.ledger;
        self.slots = recovered.slots;
        self.recent = Recent::load(&mut self.conn)?;
        let all = published_accounts(&self.ledger, &self.slots);
        if let Ok(mut published) = self.published.write() {
            *published = all;
        }
        self.needs_reload = false;
        tracing::warn!("rebuilt the in-memory ledger from the database");
        Ok(())
    }
}

/// Runs one operation, undone alone if it fails (see [`WriteTx`]); an `Err` means the whole
/// batch must be abandoned.
fn run_job(
    batch: &mut Batch<'_>,
    conn: &mut Conn,
    rows: &mut RowCache,
    recent: &mut Recent,
    job: Job,
) -> Result<Deliver, StoreError> {
    let ledger_savepoint = batch.savepoint();
    conn.guard = Guard::Off;
    conn.final_written = false;
    let mut tx = WriteTx {
        batch,
        conn,
        rows,
        recent,
        ledger_savepoint,
    };
    let completion = catch_unwind(AssertUnwindSafe(|| job(&mut tx))).map_err(|panic| {
        StoreError::Internal(format!(
            "a write operation panicked: {}",
            panic_text(&panic)
        ))
    });
    let savepoint = tx.ledger_savepoint;
    let (guard, final_written) = (conn.guard, conn.final_written);
    conn.guard = Guard::Off;
    conn.final_written = false;
    let completion = match completion {
        Ok(completion) => completion,
        Err(error) => {
            recent.drop_op();
            return Err(error);
        }
    };
    if completion.failed {
        recent.drop_op();
        batch.rollback_to(savepoint);
        if guard == Guard::Open {
            // A row it cached may show what it wrote.
            rows.forget_all();
            conn.control("ROLLBACK TO SAVEPOINT op")?;
            conn.control("RELEASE SAVEPOINT op")?;
        }
        if final_written {
            return Err(StoreError::Internal(
                "a write operation failed after its final writes; abandoning its batch".into(),
            ));
        }
    } else {
        recent.keep_op();
        if guard == Guard::Open {
            conn.control("RELEASE SAVEPOINT op")?;
        }
    }
    Ok(completion.deliver)
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}
