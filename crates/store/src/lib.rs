//! Persistence for Cashless: the embedded SQLite default and PostgreSQL, one code path.
//!
//! [`Store`] owns a group-commit writer thread (see `writer`) holding the in-memory ledger,
//! and a small pool of read connections. Everything that changes the database goes through
//! [`Store::write`]: operations are batched into one transaction per batch and answered only
//! after it committed. Reads go straight to the database through [`Store::read`].

pub mod audit;
mod checkpoint;
mod credentials;
mod db;
mod idempotency;
mod ledger_sql;
mod published;
mod roles;
mod schema;
mod sync;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cashless_ledger::{
    Account, AccountId, CreateAccountResult, CreateTransferResult, LedgerConfig, Transfer,
    TransferId,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use credentials::CredentialCache;
pub use db::{Backend, Conn, DbError, Param, Row, Value, classified_exactly};
pub use idempotency::{IdempotencyRecord, idempotency_record};
pub use ledger_sql::{AccountRow, TransferRow};
pub use roles::TableRoles;
pub use writer::{CheckpointConfig, WriteTx};

use published::Shared;
use writer::{Command, Completion, Job, Published, Stop, Writer};

/// Where the data lives.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Location {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, e.g. `postgres://postgres@127.0.0.1:5432/cashless`.
    Postgres(String),
}

impl Location {
    /// `database_url` if given (must be `postgres://` or `postgresql://`), else the SQLite file
    /// `cashless.db` inside `data_dir`.
    pub fn from_args(database_url: Option<&str>, data_dir: &Path) -> Result<Location, StoreError> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_owned()))
            }
            Some(url) => Err(StoreError::Config(format!(
                "unsupported database URL {:?}: expected postgres://…",
                redact_url(url)
            ))),
            None => Ok(Location::Sqlite(data_dir.join("cashless.db"))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn open(&self) -> Result<Conn, StoreError> {
        Ok(match self {
            Location::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        StoreError::Config(format!("cannot create {}: {error}", parent.display()))
                    })?;
                }
                Conn::open_sqlite(path)?
            }
            Location::Postgres(url) => Conn::open_postgres(url)?,
        })
    }

    /// For logs: the file, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("sqlite:{}", path.display()),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

/// Hides the password in `scheme://user:password@host/…?password=…`. The credentials end at
/// the last `@` (a password may contain `@`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let rest = match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{credentials}@{host}"),
        },
        None => rest.to_owned(),
    };
    let query = query.map(|query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{rest}{}", query.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=secret"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert!(!redact_url("not a url with secret").contains("secret"));
    }
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub location: Location,
    /// Operations (each possibly many transfers) committed together at most.
    pub batch_ops_max: usize,
    /// Operations waiting for the writer at most; callers wait beyond that (backpressure).
    pub write_queue_max: usize,
    /// Read connections.
    pub readers: usize,
    pub ledger: LedgerConfig,
    /// When balances are written back to account rows (the log covers the rest).
    pub checkpoints: CheckpointConfig,
}

impl StoreConfig {
    pub fn new(location: Location) -> StoreConfig {
        StoreConfig {
            location,
            batch_ops_max: 8_190,
            write_queue_max: 65_536,
            readers: 4,
            ledger: LedgerConfig {
                transfers_cached_max: 1 << 18,
            },
            checkpoints: CheckpointConfig {
                transfers_max: 250_000,
                interval: Duration::from_secs(30),
            },
        }
    }
}

/// Why a store operation failed. Cloneable: one failed commit answers many callers.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("the database schema is version {found}, newer than this binary knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the store is shut down")]
    Closed,
    #[error("the write was not applied: {0}")]
    NotApplied(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> StoreError {
        StoreError::Database(error.to_string())
    }
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// Cumulative counters of the group-commit writer.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    pub batches_committed: u64,
    pub batches_failed: u64,
    /// Operations run (`Store::write` calls): per batch, the size of the group.
    pub operations: u64,
    /// Running operations: the ledger's rules and the operations' own SQL.
    pub apply: Duration,
    /// Writing the ledger's changes to the database.
    pub persist: Duration,
    /// COMMIT (including the fsync on PostgreSQL).
    pub commit: Duration,
    /// SQLite: fsyncs of the write-ahead log by the syncer, and the time they took.
    pub syncs: u64,
    pub sync: Duration,
}

/// How often the expiry ticker looks whether a pending transfer is due.
const EXPIRY_POLL: Duration = Duration::from_millis(200);

/// The platform's storage. Cheap to clone; all clones share one writer.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: Location,
    commands: mpsc::Sender<Command>,
    readers: Readers,
    /// Accounts as of the last commit, served to readers from memory.
    published: Published,
    checkpointer: Mutex<Option<checkpoint::Checkpointer>>,
    shared: Arc<Shared>,
    ticker: tokio::task::JoinHandle<()>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl Store {
    /// Tells the store what a crate's tables are to it (see [`TableRoles`]). Services register
    /// when they are built, before their first write; registering again is harmless.
    pub fn register(&self, roles: TableRoles) {
        self.inner.shared.roles.register(roles);
    }

    /// Opens the database, applies migrations, rebuilds the in-memory ledger and starts the
    /// writer. Must be called inside a Tokio runtime.
    pub async fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let location = config.location.clone();
        let ledger_config = config.ledger;
        let (conn, (recovered, recent)) = tokio::task::spawn_blocking(move || {
            let mut conn = location.open()?;
            schema::migrate(&mut conn, now_ns())?;
            let recovered = ledger_sql::recover(&mut conn, ledger_config)?;
            let recent = idempotency::Recent::load(&mut conn)?;
            Ok::<_, StoreError>((conn, (recovered, recent)))
        })
        .await
        .map_err(|error| StoreError::Internal(error.to_string()))??;
        tracing::info!(
            location = %config.location.describe(),
            accounts = recovered.ledger.accounts().count(),
            pending = recovered.ledger.pending_count(),
            "store opened"
        );

        let (commands, receiver) = mpsc::channel(config.write_queue_max.max(1));
        let shared = Arc::new(Shared::default());
        // Everything recovered is on disk now: readers may see it all.
        shared
            .durable_ts
            .store(recovered.ledger.timestamp(), Ordering::Relaxed);
        let mut conn = conn;
        let syncer = match &config.location {
            Location::Sqlite(path) => {
                // Commits stop waiting for the disk; the syncer waits instead (see `sync`).
                conn.batch_execute("PRAGMA synchronous = NORMAL")?;
                Some(sync::Syncer::start(path, Arc::clone(&shared))?)
            }
            Location::Postgres(_) => None,
        };
        let published: Published = Arc::new(std::sync::RwLock::new(writer::published_accounts(
            &recovered.ledger,
            &recovered.slots,
        )));
        let mut writer = Writer {
            conn,
            ledger: recovered.ledger,
            slots: recovered.slots,
            commands: receiver,
            location: config.location.clone(),
            ledger_config,
            batch_ops_max: config.batch_ops_max.max(1),
            shared: Arc::clone(&shared),
            needs_reload: false,
            syncer,
            published: Arc::clone(&published),
            checkpoints: config.checkpoints,
            last_checkpoint: std::time::Instant::now(),
            rows: writer::RowCache::default(),
            recent,
        };
        writer.fit_page_cache();
        let writer_thread = std::thread::Builder::new()
            .name("cashless-writer".into())
            .spawn(move || writer.run())
            .map_err(|error| StoreError::Internal(format!("cannot start the writer: {error}")))?;
        let checkpointer = match &config.location {
            Location::Sqlite(path) => Some(checkpoint::Checkpointer::start(path.clone())?),
            Location::Postgres(_) => None,
        };
        let ticker = tokio::spawn(expiry_ticker(commands.downgrade(), Arc::clone(&shared)));
        let readers = Readers::new(config.location.clone(), config.readers.max(1));
        Ok(Store {
            inner: Arc::new(Inner {
                location: config.location,
                commands,
                readers,
                published,
                checkpointer: Mutex::new(checkpointer),
                shared,
                ticker,
                writer_thread: Mutex::new(Some(writer_thread)),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.location.backend()
    }

    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// Runs `op` in the writer's next batch and answers once that batch has committed.
    ///
    /// If `op` returns `Err`, everything it did (ledger transfers and rows written through
    /// [`WriteTx::conn`]) is rolled back, and the rest of the batch commits without it.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(&mut WriteTx<'_, '_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |tx| {
            let result = op(tx);
            Completion {
                failed: result.is_err(),
                deliver: Box::new(move |commit_error| {
                    let outcome = match (result, commit_error) {
                        (Ok(value), None) => Ok(value),
                        (Ok(_), Some(error)) => Err(E::from(error)),
                        (Err(error), _) => Err(error),
                    };
                    let _ = sender.send(outcome);
                }),
            }
        });
        self.inner
            .commands
            .send(Command::Job(job))
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        receiver.await.map_err(|_| {
            E::from(StoreError::NotApplied(
                "the database was unavailable".into(),
            ))
        })?
    }

    /// Runs `f` with a read connection: on SQLite, right here (an embedded point read takes
    /// microseconds, less than a hop to another thread); on PostgreSQL, on a blocking thread.
    /// Keep `f` short: one request's lookups, never a scan (but for
    /// [`idempotency_record`]'s bounded one of the last second's records).
    ///
    /// A reader may see a batch the writer has committed but the disk has not yet confirmed
    /// (SQLite commits before its log is synced, see `sync`). So before answering, `read` waits
    /// until every batch committed by the time `f` finished is durable: no one is ever shown a
    /// row that a crash could take back.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let value = self.inner.readers.run(f).await?;
        self.wait_durable().await?;
        Ok(value)
    }

    /// Like [`Store::read`], without waiting for durability: only for lookups whose answer is
    /// never shown to anyone, such as checking credentials. A credential a reader can see
    /// before it is durable was created by a write that has not answered yet, so no client
    /// holds it; a crash takes back both together. (Waiting would put every request behind
    /// the log's fsync.)
    pub async fn read_credentials<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.run(f).await
    }

    /// A credential through `cache`: from memory if it was read since the last write that
    /// may have changed credentials, else by `read` (as [`Store::read_credentials`]), kept
    /// when found. See [`CredentialCache`] for what makes this safe; `read` must look up
    /// exactly what `key` names, and the caller checks any expiry the value carries.
    pub async fn read_credential<K, V, F>(
        &self,
        cache: &CredentialCache<K, V>,
        key: K,
        read: F,
    ) -> Result<Option<V>, StoreError>
    where
        K: std::hash::Hash + Eq,
        V: Clone + Send + 'static,
        F: FnOnce(&mut Conn) -> Result<Option<V>, DbError> + Send + 'static,
    {
        // Read before the lookup: a write committed after this point bumps it past the tag.
        let epoch = self.inner.shared.credentials_epoch.load(Ordering::Acquire);
        if let Some(value) = cache.get(&key, epoch) {
            return Ok(Some(value));
        }
        let value = self.read_credentials(read).await?;
        if let Some(value) = &value {
            cache.insert(key, epoch, value.clone());
        }
        Ok(value)
    }

    /// Waits until every batch committed so far is durable.
    async fn wait_durable(&self) -> Result<(), StoreError> {
        let shared = &self.inner.shared;
        let target = shared.batches_committed.load(Ordering::Acquire);
        loop {
            // Registered before the check, so an advance between the two is not missed.
            let advanced = shared.durable_notify.notified();
            if shared.durable_batches.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            if shared.poisoned.load(Ordering::Relaxed) {
                return Err(StoreError::Internal(
                    "the disk failed to confirm a write; its outcome is unknown".into(),
                ));
            }
            if self.inner.commands.is_closed() {
                return Err(StoreError::Closed);
            }
            advanced.await;
        }
    }

    pub async fn create_accounts(
        &self,
        accounts: Vec<Account>,
    ) -> Result<Vec<CreateAccountResult>, StoreError> {
        self.write(move |tx| Ok(tx.create_accounts(&accounts)))
            .await
    }

    pub async fn create_transfers(
        &self,
        transfers: Vec<Transfer>,
    ) -> Result<Vec<CreateTransferResult>, StoreError> {
        self.write(move |tx| tx.create_transfers(&transfers)).await
    }

    /// An account with its live balances (from memory: account rows only hold balances as of
    /// the last checkpoint).
    pub async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, StoreError> {
        let published = self
            .inner
            .published
            .read()
            .map_err(|_| StoreError::Internal("published accounts poisoned".into()))?;
        Ok(published.get(&id).copied())
    }

    /// A transfer, once it is durable (a committed batch waiting for its fsync is not visible).
    pub async fn transfer(&self, id: TransferId) -> Result<Option<TransferRow>, StoreError> {
        let durable = self.durable_ts();
        let row = self
            .read(move |conn| ledger_sql::transfer_by_id(conn, id))
            .await?;
        Ok(row.filter(|row| row.record.transfer.timestamp <= durable))
    }

    fn durable_ts(&self) -> u64 {
        self.inner.shared.durable_ts.load(Ordering::Relaxed)
    }

    /// A page of `account`'s transfers, newest first, and the cursor of the next page (the
    /// ledger timestamp of the next transfer). Start with `cursor = None`; pass the returned
    /// cursor to continue. `None` if the account does not exist.
    pub async fn account_transfers(
        &self,
        account: AccountId,
        cursor: Option<u64>,
        limit: u32,
    ) -> Result<Option<(Vec<TransferRow>, Option<u64>)>, StoreError> {
        let Some(row) = self.account(account).await? else {
            return Ok(None);
        };
        let durable = self.durable_ts();
        self.read(move |conn| {
            let start = cursor.unwrap_or(row.head);
            if start == 0 || limit == 0 {
                return Ok(Some((Vec::new(), None)));
            }
            let rows = ledger_sql::account_transfers(conn, account, start, limit, durable)?;
            let next = rows
                .last()
                .and_then(|row| row.prev_for(account))
                .filter(|&prev| prev != 0);
            Ok(Some((rows, next)))
        })
        .await
    }

    /// Checks that the database answers and the writer runs.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if self.inner.commands.is_closed() {
            return Err(StoreError::Closed);
        }
        if self.inner.shared.poisoned.load(Ordering::Relaxed) {
            return Err(StoreError::Internal(
                "the disk failed to confirm a write; writes are refused".into(),
            ));
        }
        self.read(|conn| conn.query("SELECT 1", &[]).map(drop))
            .await
    }

    pub fn batches_committed(&self) -> u64 {
        self.inner.shared.batches_committed.load(Ordering::Relaxed)
    }

    /// Where the writer's time went so far.
    pub fn writer_stats(&self) -> WriterStats {
        let shared = &self.inner.shared;
        WriterStats {
            batches_committed: shared.batches_committed.load(Ordering::Relaxed),
            batches_failed: shared.batches_failed.load(Ordering::Relaxed),
            operations: shared.operations.load(Ordering::Relaxed),
            apply: Duration::from_nanos(shared.apply_ns.load(Ordering::Relaxed)),
            persist: Duration::from_nanos(shared.persist_ns.load(Ordering::Relaxed)),
            commit: Duration::from_nanos(shared.commit_ns.load(Ordering::Relaxed)),
            syncs: shared.syncs.load(Ordering::Relaxed),
            sync: Duration::from_nanos(shared.sync_ns.load(Ordering::Relaxed)),
        }
    }

    /// Finishes every queued write, writes a balance checkpoint, then stops the writer.
    pub async fn shutdown(&self) {
        self.stop(Stop::Clean).await;
    }

    /// Finishes every queued write and stops without a final checkpoint, leaving the database
    /// as a crash right after the last commit would: the next start-up replays the log.
    pub async fn halt(&self) {
        self.stop(Stop::Halt).await;
    }

    async fn stop(&self, stop: Stop) {
        let (done, finished) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Shutdown(done, stop))
            .await
            .is_ok()
        {
            let _ = finished.await;
        }
        let thread = self
            .inner
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let checkpointer = self
            .inner
            .checkpointer
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(mut checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
    }
}

/// Wakes the writer with an empty operation when a pending transfer is due to expire, so the
/// release is persisted even if nobody writes.
async fn expiry_ticker(commands: mpsc::WeakSender<Command>, shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(EXPIRY_POLL);
    loop {
        interval.tick().await;
        if shared.next_expiry_ns.load(Ordering::Relaxed) > now_ns() {
            continue;
        }
        let Some(commands) = commands.upgrade() else {
            return;
        };
        let noop: Job = Box::new(|_| Completion {
            failed: false,
            deliver: Box::new(|_| {}),
        });
        let _ = commands.try_send(Command::Job(noop));
    }
}

/// A fixed pool of read connections, reopened when broken.
#[derive(Debug)]
struct Readers {
    location: Location,
    pool: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

impl Readers {
    fn new(location: Location, size: usize) -> Readers {
        Readers {
            location,
            pool: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pooled = self
            .pool
            .lock()
            .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
            .pop();
        if let Location::Sqlite(_) = self.location {
            // An embedded read is a few page-cache B-tree lookups, microseconds: handing it to
            // the blocking pool (two thread wake-ups) costs more than the read. Run it here.
            let mut conn = match pooled {
                Some(conn) if !conn.is_broken() => conn,
                _ => open_reader(&self.location)?,
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut conn)));
            let Ok(result) = outcome else {
                // The connection may be mid-statement: drop it rather than pool it.
                return Err(StoreError::Internal("a read panicked".into()));
            };
            if let Ok(mut pool) = self.pool.lock() {
                pool.push(conn);
            }
            return result.map_err(StoreError::from);
        }
        let location = self.location.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let mut conn = match pooled {
                Some(conn) if !conn.is_broken() => conn,
                _ => match open_reader(&location) {
                    Ok(conn) => conn,
                    Err(error) => return (None, Err(error)),
                },
            };
            let result = f(&mut conn).map_err(StoreError::from);
            (Some(conn), result)
        })
        .await
        .map_err(|error| StoreError::Internal(format!("a read panicked: {error}")))?;
        if let Some(conn) = conn
            && let Ok(mut pool) = self.pool.lock()
        {
            pool.push(conn);
        }
        result
    }
}

impl Drop for Readers {
    /// A PostgreSQL client blocks while closing, which must not happen on an async runtime's
    /// thread: close the pooled connections on a plain thread.
    fn drop(&mut self) {
        let conns = match self.pool.get_mut() {
            Ok(pool) => std::mem::take(pool),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if conns.iter().any(|conn| conn.backend() == Backend::Postgres) {
            let _ = std::thread::spawn(move || drop(conns)).join();
        }
    }
}

fn open_reader(location: &Location) -> Result<Conn, StoreError> {
    let mut conn = location.open()?;
    match conn.backend() {
        Backend::Sqlite => conn.batch_execute("PRAGMA query_only = ON")?,
        Backend::Postgres => conn.batch_execute("SET default_transaction_read_only = on")?,
    }
    Ok(conn)
}
