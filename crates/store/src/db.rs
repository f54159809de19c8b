//! One connection type over both backends, so repository code is written once.
//!
//! SQL is written in PostgreSQL's dialect subset that SQLite also speaks, with `$1, $2 …`
//! placeholders (rewritten to `?1, ?2 …` for SQLite). Integers are 64-bit on the wire; ids are
//! 16-byte blobs (`BLOB` / `BYTEA`) in big-endian order.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::roles::Roles;

/// Which database a connection talks to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A database error, with the few distinctions callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("stored value does not decode: {0}")]
    Decode(String),
}

impl DbError {
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => {
                error.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || error.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(error) => {
                error.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    pub(crate) fn decode(what: impl Into<String>) -> DbError {
        DbError::Decode(what.into())
    }
}

/// A parameter bound to a statement. Borrowed, so binding costs no allocation.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> Param<'a> {
    pub fn opt_text(text: Option<&'a str>) -> Param<'a> {
        text.map_or(Param::Null, Param::Text)
    }

    pub fn opt_blob(blob: Option<&'a [u8]>) -> Param<'a> {
        blob.map_or(Param::Null, Param::Blob)
    }

    /// An amount column: the signed minor units (the currency is a column of its own).
    pub fn money(money: cashless_ledger::Money) -> Param<'static> {
        Param::Int(money.minor())
    }

    /// A time column: nanoseconds since the Unix epoch (saturating in the year 2262).
    pub fn ns(ns: u64) -> Param<'static> {
        Param::Int(i64::try_from(ns).unwrap_or(i64::MAX))
    }

    /// An optional time column.
    pub fn opt_ns(ns: Option<u64>) -> Param<'static> {
        ns.map_or(Param::Null, Param::ns)
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(value)),
            Param::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Param::Blob(blob) => ToSqlOutput::Borrowed(ValueRef::Blob(blob)),
        })
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(value) => match *ty {
                Type::INT8 => value.to_sql(ty, out),
                Type::INT4 => i32::try_from(value)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(value)?.to_sql(ty, out),
                Type::BOOL => (value != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot bind to a {ty} column").into()),
            },
            Param::Text(text) => text.to_sql(ty, out),
            Param::Blob(blob) => blob.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column value read back.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row read back, columns by position.
#[derive(Clone, Debug)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    fn get(&self, index: usize) -> Result<&Value, DbError> {
        self.values
            .get(index)
            .ok_or_else(|| DbError::decode(format!("no column {index}")))
    }

    pub fn is_null(&self, index: usize) -> Result<bool, DbError> {
        Ok(matches!(self.get(index)?, Value::Null))
    }

    pub fn int(&self, index: usize) -> Result<i64, DbError> {
        match self.get(index)? {
            Value::Int(value) => Ok(*value),
            other => Err(DbError::decode(format!(
                "column {index}: expected integer, got {other:?}"
            ))),
        }
    }

    /// An amount column in `currency`.
    pub fn money(
        &self,
        index: usize,
        currency: cashless_ledger::Currency,
    ) -> Result<cashless_ledger::Money, DbError> {
        Ok(cashless_ledger::Money::new(self.int(index)?, currency))
    }

    /// A column of minor units that is never negative (an amount a movement moves).
    pub fn unsigned(&self, index: usize) -> Result<u64, DbError> {
        self.non_negative(index, "amount")
    }

    /// A time column (nanoseconds since the Unix epoch, never negative).
    pub fn ns(&self, index: usize) -> Result<u64, DbError> {
        self.non_negative(index, "time")
    }

    fn non_negative(&self, index: usize, what: &str) -> Result<u64, DbError> {
        let value = self.int(index)?;
        u64::try_from(value)
            .map_err(|_| DbError::decode(format!("column {index}: negative {what} {value}")))
    }

    /// An optional time column.
    pub fn opt_ns(&self, index: usize) -> Result<Option<u64>, DbError> {
        if self.is_null(index)? {
            Ok(None)
        } else {
            self.ns(index).map(Some)
        }
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, DbError> {
        if self.is_null(index)? {
            Ok(None)
        } else {
            self.int(index).map(Some)
        }
    }

    pub fn text(&self, index: usize) -> Result<&str, DbError> {
        match self.get(index)? {
            Value::Text(text) => Ok(text),
            other => Err(DbError::decode(format!(
                "column {index}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<&str>, DbError> {
        if self.is_null(index)? {
            Ok(None)
        } else {
            self.text(index).map(Some)
        }
    }

    pub fn blob(&self, index: usize) -> Result<&[u8], DbError> {
        match self.get(index)? {
            Value::Blob(blob) => Ok(blob),
            other => Err(DbError::decode(format!(
                "column {index}: expected blob, got {other:?}"
            ))),
        }
    }

    pub fn opt_blob(&self, index: usize) -> Result<Option<&[u8]>, DbError> {
        if self.is_null(index)? {
            Ok(None)
        } else {
            self.blob(index).map(Some)
        }
    }

    /// A 16-byte id column.
    pub fn u128(&self, index: usize) -> Result<u128, DbError> {
        let blob = self.blob(index)?;
        <[u8; 16]>::try_from(blob)
            .map(u128::from_be_bytes)
            .map_err(|_| DbError::decode(format!("column {index}: id of {} bytes", blob.len())))
    }

    /// A nullable 16-byte id column; NULL reads as 0.
    pub fn u128_or_zero(&self, index: usize) -> Result<u128, DbError> {
        if self.is_null(index)? {
            Ok(0)
        } else {
            self.u128(index)
        }
    }
}

/// A PostgreSQL client with a per-connection prepared-statement cache.
///
/// Transaction control that recurs (`SAVEPOINT`, `RELEASE` around every write operation) is
/// deferred and sent in one round trip just before the next statement: one operation's
/// `RELEASE` and the next one's `SAVEPOINT` share a round trip. An error in a deferred
/// statement surfaces at the statement that sent it, and also sticks
/// ([`Conn::control_failed`]): the transaction then refuses to commit (see [`Conn::commit`]),
/// since what the failed statement should have done (release one operation's savepoint, say)
/// did not happen.
///
/// Writes made past an operation's checks ([`Conn::write`] under `Guard::Final`) are deferred
/// too, and sent together as one statement (data-modifying `WITH` clauses) before anything
/// else is sent: a paid order's five writes take one round trip instead of five.
pub struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    /// Deferred control statements, separated by "; ".
    pending: String,
    /// A deferred control statement (or deferred write) failed in this transaction.
    control_failed: bool,
    writes: DeferredWrites,
}

/// Writes waiting to be sent as one statement.
#[derive(Debug, Default)]
struct DeferredWrites {
    /// Each write's SQL and how many parameters it takes.
    statements: Vec<(String, usize)>,
    params: Vec<OwnedParam>,
    /// The tables they write: a second write to one of them is sent on its own, since the
    /// clauses of one statement do not see each other's changes.
    tables: Vec<String>,
}

/// A parameter kept until a deferred write is sent.
#[derive(Clone, Debug)]
enum OwnedParam {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl OwnedParam {
    fn of(param: &Param<'_>) -> OwnedParam {
        match *param {
            Param::Null => OwnedParam::Null,
            Param::Int(value) => OwnedParam::Int(value),
            Param::Text(text) => OwnedParam::Text(text.to_owned()),
            Param::Blob(blob) => OwnedParam::Blob(blob.to_vec()),
        }
    }

    fn as_param(&self) -> Param<'_> {
        match self {
            OwnedParam::Null => Param::Null,
            OwnedParam::Int(value) => Param::Int(*value),
            OwnedParam::Text(text) => Param::Text(text),
            OwnedParam::Blob(blob) => Param::Blob(blob),
        }
    }
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConn")
            .field("statements", &self.statements.len())
            .finish()
    }
}

impl PgConn {
    /// The client itself, once the deferred control statements are sent.
    pub fn client(&mut self) -> Result<&mut postgres::Client, DbError> {
        self.send_pending()?;
        Ok(&mut self.client)
    }

    /// Sends the deferred writes, then the deferred control statements, if any.
    fn send_pending(&mut self) -> Result<(), DbError> {
        self.send_writes()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.pending);
        self.client.batch_execute(&sql).map_err(|error| {
            self.control_failed = true;
            DbError::from(error)
        })
    }

    /// Defers a write to `table` (see [`Conn::write`]).
    fn defer_write(
        &mut self,
        sql: &str,
        table: String,
        params: &[Param<'_>],
    ) -> Result<(), DbError> {
        // Control statements deferred before this write go first (a rollback to a savepoint
        // must not take this write with it): writes and control statements are never both
        // waiting, so sending either kind first keeps the order they came in.
        if !self.pending.is_empty() {
            self.send_pending()?;
        }
        if self.writes.tables.contains(&table) {
            self.send_writes()?;
        }
        self.writes.statements.push((sql.to_owned(), params.len()));
        self.writes.params.extend(params.iter().map(OwnedParam::of));
        self.writes.tables.push(table);
        Ok(())
    }

    /// Sends the deferred writes as one statement. If it fails, the transaction cannot
    /// commit ([`Conn::commit`] refuses): the writes belonged to operations already answered
    /// for, in effect, by the batch.
    fn send_writes(&mut self) -> Result<(), DbError> {
        let writes = std::mem::take(&mut self.writes);
        let sql = match writes.statements.as_slice() {
            [] => return Ok(()),
            [(sql, _)] => sql.clone(),
            many => {
                let mut sql = String::from("WITH ");
                let mut offset = 0;
                for (n, (statement, count)) in many.iter().enumerate() {
                    if n > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("w{n} AS ("));
                    sql.push_str(&shift_placeholders(statement, offset));
                    sql.push(')');
                    offset += count;
                }
                sql.push_str(" SELECT 1");
                sql
            }
        };
        let params: Vec<Param<'_>> = writes.params.iter().map(OwnedParam::as_param).collect();
        let sent = self
            .statement(&sql)
            .and_then(|statement| Ok(self.client.execute(&statement, &pg_params(&params))?));
        if sent.is_err() {
            self.control_failed = true;
        }
        sent.map(drop)
    }

    /// A transaction begins or ends: nothing deferred carries over.
    fn transaction_boundary(&mut self) {
        self.writes = DeferredWrites::default();
        self.pending.clear();
        self.control_failed = false;
    }

    /// A prepared statement for `sql`, prepared once per connection.
    pub fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// An open connection to either backend.
#[derive(Debug)]
pub struct Conn {
    pub(crate) link: Link,
    /// The registered tables' roles this connection watches for (the writer's; readers watch
    /// none).
    pub(crate) roles: Arc<Roles>,
    /// A statement run since [`Conn::take_credentials_changed`] may have changed or removed
    /// a row of a credential table.
    credentials_changed: bool,
    /// Bits of `roles.cached` (by position) a statement run since
    /// [`Conn::take_cached_changed`] may have changed.
    cached_changed: u32,
    /// How the running write operation's statements are guarded (see `WriteTx`).
    pub(crate) guard: Guard,
    /// The running write operation wrote under [`Guard::Final`]: if it then fails, nothing
    /// can undo those writes alone, and the batch is abandoned.
    pub(crate) final_written: bool,
}

/// How a write operation's statements can be undone if the operation fails.
///
/// On SQLite a savepoint is not free: while one is open, every page a statement changes is
/// first copied to the savepoint's journal. So the savepoint opens only before the
/// operation's first statement that may write (`Lazy` becomes `Open`); an operation that
/// only reads, or fails before writing, needs none. An operation that makes every check
/// before its first write says so (`Final`) and writes with no savepoint at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Guard {
    /// Outside write operations.
    Off,
    /// In an operation, writes it keeps whatever it does next (`WriteTx::conn_kept`).
    Kept,
    /// A savepoint opens before the next statement that may write. (On PostgreSQL a read
    /// that fails outside a savepoint aborts the whole transaction: that fails the batch, as
    /// any database error does, and every caller is told; a read fails only by a bug or a
    /// lost connection.)
    Lazy,
    /// The savepoint is open.
    Open,
    /// The operation will not fail from here: its writes go unguarded.
    Final,
}

/// The backend's own connection.
#[derive(Debug)]
pub(crate) enum Link {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

/// WAL pages after which a committing connection checkpoints by itself: far beyond what the
/// background checkpointer lets accumulate.
const SQLITE_AUTOCHECKPOINT_PAGES: i64 = 262_144;

/// The writer's page cache, in KiB, for a database of `bytes` (see [`Conn::fit_writer_cache`]).
fn writer_cache_kib(bytes: i64) -> i64 {
    if bytes <= SQLITE_PENDING_BYTE {
        SQLITE_SMALL_DATABASE_CACHE_KIB
    } else {
        SQLITE_CACHE_KIB
    }
}

/// How long a SQLite connection waits for a lock before failing.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection's page cache, in KiB (`PRAGMA cache_size` takes it negative).
const SQLITE_CACHE_KIB: i64 = 64 * 1024;

/// The writer's page cache while the database is smaller than [`SQLITE_PENDING_BYTE`] (see
/// [`Conn::fit_writer_cache`]).
const SQLITE_SMALL_DATABASE_CACHE_KIB: i64 = 8 * 1024;

/// Where SQLite keeps its lock bytes: the page past the first GiB. When a B-tree split sorts
/// its new pages, SQLite swaps their numbers through that page's (`balance_nonroot`), and from
/// then on the page cache believes it has held a page that far out. At the end of the
/// transaction it drops every page past the end of the database, and for a page so far out it
/// does so by scanning the whole cache (`pcache1TruncateUnsafe`).
const SQLITE_PENDING_BYTE: i64 = 1 << 30;

impl Conn {
    fn new(link: Link) -> Conn {
        Conn {
            link,
            roles: Arc::default(),
            credentials_changed: false,
            cached_changed: 0,
            guard: Guard::Off,
            final_written: false,
        }
    }

    /// Applies the operation's guard before `sql` runs (see [`Guard`]).
    fn guard_statement(&mut self, sql: &str) -> Result<(), DbError> {
        if self.guard != Guard::Off && self.transaction_lost() {
            // SQLite rolled the whole transaction back after an error (disk full, I/O): a
            // statement now would run, and commit, on its own.
            return Err(DbError::decode(
                "the transaction was rolled back by SQLite after an error",
            ));
        }
        match self.guard {
            Guard::Off | Guard::Kept | Guard::Open => Ok(()),
            Guard::Lazy => {
                if may_write(sql) {
                    self.control("SAVEPOINT op")?;
                    self.guard = Guard::Open;
                }
                Ok(())
            }
            Guard::Final => {
                if may_write(sql) {
                    self.final_written = true;
                }
                Ok(())
            }
        }
    }

    /// Whether a statement run since the last call may have changed or removed a row of a
    /// credential table; clears the mark.
    pub fn take_credentials_changed(&mut self) -> bool {
        std::mem::take(&mut self.credentials_changed)
    }

    /// Which of the cached tables a statement run since the last call may have changed (bits
    /// by position in `roles.cached`); clears the mark.
    pub(crate) fn take_cached_changed(&mut self) -> u32 {
        std::mem::take(&mut self.cached_changed)
    }

    fn note(&mut self, sql: &str) {
        let changes = changes(sql);
        if changes == Changes::Nothing {
            return;
        }
        if !self.credentials_changed
            && self
                .roles
                .credentials
                .iter()
                .any(|table| changes.may_change(table))
        {
            self.credentials_changed = true;
        }
        for (n, table) in self.roles.cached.iter().enumerate() {
            if changes.may_change(table) {
                self.cached_changed |= 1 << n;
            }
        }
    }

    /// Opens (creating if needed) a SQLite database in WAL mode with durable commits:
    /// `synchronous=FULL` fsyncs the log on every commit, so an acknowledged write survives
    /// power loss, not only a process crash.
    pub fn open_sqlite(path: &Path) -> Result<Conn, DbError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.pragma_update(None, "cache_size", -SQLITE_CACHE_KIB)?;
        // Checkpoints run on their own thread (see `checkpoint`); this is only the safety net
        // should that thread fall behind.
        connection.pragma_update(None, "wal_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES)?;
        connection.set_prepared_statement_cache_capacity(256);
        // Savepoint (statement) journals in memory: each write operation runs in a savepoint
        // whose journal holds every page it touches, and a file would spill them to disk.
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(Conn::new(Link::Sqlite(connection)))
    }

    /// Sizes the writer's page cache for the database as it is now; call it from time to
    /// time. Until the database reaches [`SQLITE_PENDING_BYTE`], every commit that split a
    /// B-tree page scans the whole page cache, so the cost grows with the cache: with 64 MiB
    /// it was ~10% of the writer's time under `cashless bench pay` (`perf`), with 8 MiB ~2%,
    /// which still holds the pages a payment touches. Past that size the scan cannot happen
    /// and the writer gets the full cache. PostgreSQL: nothing to do.
    pub fn fit_writer_cache(&mut self) -> Result<(), DbError> {
        let Link::Sqlite(connection) = &self.link else {
            return Ok(());
        };
        let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let kib = writer_cache_kib(pages.saturating_mul(page_size));
        let now: i64 = connection.query_row("PRAGMA cache_size", [], |row| row.get(0))?;
        if now != -kib {
            connection.pragma_update(None, "cache_size", -kib)?;
        }
        Ok(())
    }

    pub fn open_postgres(url: &str) -> Result<Conn, DbError> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Conn::new(Link::Postgres(Box::new(PgConn {
            client,
            statements: HashMap::new(),
            pending: String::new(),
            control_failed: false,
            writes: DeferredWrites::default(),
        }))))
    }

    pub fn backend(&self) -> Backend {
        match &self.link {
            Link::Sqlite(_) => Backend::Sqlite,
            Link::Postgres(_) => Backend::Postgres,
        }
    }

    /// The connection can no longer be used (PostgreSQL closed it); open a new one.
    pub fn is_broken(&self) -> bool {
        match &self.link {
            Link::Sqlite(_) => false,
            Link::Postgres(pg) => pg.client.is_closed(),
        }
    }

    /// Whether the open transaction is gone: SQLite rolls back by itself after some errors
    /// (disk full, I/O, out of memory). PostgreSQL keeps an aborted transaction open instead
    /// (see [`Conn::commit`]).
    pub fn transaction_lost(&self) -> bool {
        match &self.link {
            Link::Sqlite(connection) => connection.is_autocommit(),
            Link::Postgres(_) => false,
        }
    }

    /// PostgreSQL refuses text holding a NUL character, and a refused statement aborts the
    /// transaction: such text is refused here, before anything is sent (and before the
    /// statement counts as run).
    fn check_text(&self, params: &[Param<'_>]) -> Result<(), DbError> {
        match self.link {
            Link::Postgres(_) => pg_check_text(params),
            Link::Sqlite(_) => Ok(()),
        }
    }

    /// On PostgreSQL, a statement that fails with no savepoint open aborts the whole
    /// transaction: marks it (see [`Conn::control_failed`]) so the writer abandons the batch
    /// at once instead of running the rest into errors and then reloading.
    fn failed_unguarded<T>(&mut self, result: Result<T, DbError>) -> Result<T, DbError> {
        if result.is_err()
            && self.guard != Guard::Open
            && let Link::Postgres(pg) = &mut self.link
        {
            pg.control_failed = true;
        }
        result
    }

    /// Runs one statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        self.check_text(params)?;
        let result = self.execute_guarded(sql, params);
        self.failed_unguarded(result)
    }

    fn execute_guarded(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        self.note(sql);
        self.guard_statement(sql)?;
        match &mut self.link {
            Link::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(&sqlite_sql(sql))?;
                let changed = statement.execute(rusqlite::params_from_iter(params.iter()))?;
                Ok(changed as u64)
            }
            Link::Postgres(pg) => {
                pg.send_pending()?;
                let statement = pg.statement(sql)?;
                Ok(pg.client.execute(&statement, &pg_params(params))?)
            }
        }
    }

    /// Runs a write whose count of changed rows the caller does not need. Past an
    /// operation's checks (`Guard::Final`), or kept whatever the operation does next
    /// (`Guard::Kept`), it is deferred on PostgreSQL and sent together with the next ones (see
    /// [`PgConn`]): an error then surfaces later and fails the whole batch, which is what an
    /// error after such a write does anyway.
    pub fn write(&mut self, sql: &str, params: &[Param<'_>]) -> Result<(), DbError> {
        if matches!(self.guard, Guard::Final | Guard::Kept)
            && let Link::Postgres(_) = self.link
            && let Some(table) = written_table(sql)
        {
            self.check_text(params)?;
            self.note(sql);
            // Kept writes stick whatever the operation does next.
            self.final_written |= self.guard == Guard::Final;
            if let Link::Postgres(pg) = &mut self.link {
                let deferred = pg.defer_write(sql, table, params);
                return self.failed_unguarded(deferred);
            }
            return Ok(());
        }
        self.execute(sql, params).map(drop)
    }

    /// Runs a query and reads every row.
    pub fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        self.check_text(params)?;
        let result = self.query_guarded(sql, params);
        self.failed_unguarded(result)
    }

    fn query_guarded(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        self.note(sql);
        self.guard_statement(sql)?;
        match &mut self.link {
            Link::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(&sqlite_sql(sql))?;
                let columns = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for index in 0..columns {
                        values.push(sqlite_value(row.get_ref(index)?)?);
                    }
                    out.push(Row { values });
                }
                Ok(out)
            }
            Link::Postgres(pg) => {
                pg.send_pending()?;
                let statement = pg.statement(sql)?;
                let rows = pg.client.query(&statement, &pg_params(params))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Commits the open transaction, refusing to if it can no longer commit. PostgreSQL
    /// answers COMMIT of a transaction aborted by an earlier error with a silent ROLLBACK (so
    /// a `SELECT 1` goes first, in the same round trip: it fails in an aborted transaction),
    /// and SQLite rolls back by itself after some errors (disk full, I/O): either way COMMIT
    /// would not mean "saved". The caller rolls back after an error.
    pub fn commit(&mut self) -> Result<(), DbError> {
        self.flush_control()?;
        match &mut self.link {
            Link::Sqlite(connection) if connection.is_autocommit() => Err(DbError::decode(
                "the transaction was rolled back by SQLite after an error",
            )),
            Link::Sqlite(connection) => Ok(connection.execute_batch("COMMIT")?),
            Link::Postgres(pg) => {
                pg.client.batch_execute("SELECT 1; COMMIT")?;
                pg.transaction_boundary();
                Ok(())
            }
        }
    }

    /// Sends any deferred transaction control now (PostgreSQL, see [`PgConn`]) and fails if
    /// any deferred statement failed in this transaction: the transaction cannot commit then,
    /// and nothing of it has been committed.
    pub fn flush_control(&mut self) -> Result<(), DbError> {
        match &mut self.link {
            Link::Sqlite(_) => Ok(()),
            Link::Postgres(pg) => {
                pg.send_pending()?;
                if pg.control_failed {
                    return Err(DbError::decode(
                        "a savepoint statement failed earlier in this transaction",
                    ));
                }
                Ok(())
            }
        }
    }

    /// A deferred control statement failed in this transaction (PostgreSQL; see [`PgConn`]).
    pub fn control_failed(&self) -> bool {
        match &self.link {
            Link::Sqlite(_) => false,
            Link::Postgres(pg) => pg.control_failed,
        }
    }

    /// Runs one parameterless statement that recurs (SAVEPOINT, RELEASE …): prepared once on
    /// SQLite, deferred to share the next round trip on PostgreSQL (see [`PgConn`]).
    pub fn control(&mut self, sql: &str) -> Result<(), DbError> {
        match &mut self.link {
            Link::Sqlite(connection) => {
                connection.prepare_cached(sql)?.execute([])?;
                Ok(())
            }
            Link::Postgres(pg) => {
                // In order: the writes came before this control statement (see
                // `PgConn::defer_write`).
                pg.send_writes()?;
                if !pg.pending.is_empty() {
                    pg.pending.push_str("; ");
                }
                pg.pending.push_str(sql);
                Ok(())
            }
        }
    }

    /// Runs statements without parameters (DDL, transaction control). `BEGIN` and `ROLLBACK`
    /// drop whatever control statements were deferred (see [`PgConn`]); anything else sends
    /// them first.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.note(sql);
        self.guard_statement(sql)?;
        match &mut self.link {
            Link::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Link::Postgres(pg) if matches!(sql, "BEGIN" | "ROLLBACK") => {
                pg.transaction_boundary();
                Ok(pg.client.batch_execute(sql)?)
            }
            Link::Postgres(pg) => {
                pg.send_pending()?;
                Ok(pg.client.batch_execute(sql)?)
            }
        }
    }
}

/// What rows a statement may change or remove (adding rows changes none: caches only hold
/// rows that were found).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Changes<'a> {
    /// Reads, transaction control, plain INSERTs.
    Nothing,
    /// UPDATE, DELETE or an upsert of this table.
    Table(&'a str),
    /// Any other shape (`WITH …`, DDL): every table it names, to be safe.
    Named(&'a str),
}

impl Changes<'_> {
    fn may_change(self, table: &str) -> bool {
        let is = |word: &str| word.trim_matches('"').eq_ignore_ascii_case(table);
        match self {
            Changes::Nothing => false,
            Changes::Table(word) => is(word),
            Changes::Named(sql) => sql
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(is),
        }
    }
}

/// Whether the store reads exactly which table `sql` may change (a read, a plain INSERT, or
/// an UPDATE, DELETE or upsert of one table), rather than counting every table the text
/// names. Used by the test that every statement in the code touching a registered table is
/// read exactly.
pub fn classified_exactly(sql: &str) -> bool {
    !matches!(changes(sql), Changes::Named(_))
}

fn changes(sql: &str) -> Changes<'_> {
    if sql.trim_end().trim_end_matches(';').contains(';') {
        // Several statements: every table any of them names.
        return Changes::Named(sql);
    }
    let mut words = sql
        .split(|c: char| c.is_ascii_whitespace() || c == '(' || c == ';')
        .filter(|word| !word.is_empty());
    let Some(first) = words.next() else {
        return Changes::Nothing;
    };
    let keyword = |word: &str| first.eq_ignore_ascii_case(word);
    if [
        "SELECT",
        "SAVEPOINT",
        "RELEASE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "PRAGMA",
    ]
    .iter()
    .any(|word| keyword(word))
    {
        return Changes::Nothing;
    }
    fn table(word: Option<&str>) -> Changes<'_> {
        // `schema.table` names the table after the dot.
        word.map_or(Changes::Nothing, |word| {
            Changes::Table(word.rsplit('.').next().unwrap_or(word))
        })
    }
    let only = |word: Option<&str>| word.is_some_and(|word| word.eq_ignore_ascii_case("ONLY"));
    if keyword("UPDATE") {
        let mut name = words.next();
        if name.is_some_and(|word| word.eq_ignore_ascii_case("OR")) {
            name = words.nth(1); // UPDATE OR <conflict> <table>
        }
        if only(name) {
            name = words.next(); // UPDATE ONLY <table>
        }
        return table(name);
    }
    if keyword("DELETE") {
        let mut name = words.nth(1); // DELETE FROM <table>
        if only(name) {
            name = words.next();
        }
        return table(name);
    }
    if keyword("INSERT") || keyword("REPLACE") {
        let upsert = keyword("REPLACE")
            || words.clone().any(|word| {
                word.eq_ignore_ascii_case("REPLACE") || word.eq_ignore_ascii_case("CONFLICT")
            });
        if !upsert {
            return Changes::Nothing;
        }
        return table(
            words
                .skip_while(|word| !word.eq_ignore_ascii_case("INTO"))
                .nth(1),
        );
    }
    Changes::Named(sql)
}

/// The credential tables of the tests below (the wallet's and payments').
#[cfg(test)]
const TEST_CREDENTIAL_TABLES: [&str; 4] =
    ["sessions", "devices", "merchant_keys", "staff_sessions"];

/// Whether `sql` may change or remove a row of a credential table. A plain INSERT only adds
/// credentials, which no cache holds yet; an upsert may overwrite one. Statements of any
/// other shape (`WITH …`, DDL) count when they name such a table at all.
#[cfg(test)]
pub(crate) fn changes_credentials(sql: &str) -> bool {
    let changes = changes(sql);
    TEST_CREDENTIAL_TABLES
        .iter()
        .any(|table| changes.may_change(table))
}

/// Which of the tests' cached tables (`merchants`, `users`) `sql` may change or remove rows
/// of, as bits by position.
#[cfg(test)]
pub(crate) fn changes_cached(sql: &str) -> u32 {
    let changes = changes(sql);
    ["merchants", "users"]
        .iter()
        .enumerate()
        .filter(|(_, table)| changes.may_change(table))
        .fold(0, |bits, (n, _)| bits | 1 << n)
}

/// The table a plain `INSERT INTO t`, `UPDATE t` or `DELETE FROM t` writes, lower-cased;
/// `None` for any other shape (such a write is never deferred).
fn written_table(sql: &str) -> Option<String> {
    let mut words = sql.split(|c: char| c.is_ascii_whitespace() || c == '(');
    let mut words = words.by_ref().filter(|word| !word.is_empty());
    let first = words.next()?;
    let table = if first.eq_ignore_ascii_case("INSERT") {
        words
            .next()
            .filter(|word| word.eq_ignore_ascii_case("INTO"))
            .and_then(|_| words.next())
    } else if first.eq_ignore_ascii_case("UPDATE") {
        words.next()
    } else if first.eq_ignore_ascii_case("DELETE") {
        words
            .next()
            .filter(|word| word.eq_ignore_ascii_case("FROM"))
            .and_then(|_| words.next())
    } else {
        None
    }?;
    if ["OR", "ONLY"]
        .iter()
        .any(|word| table.eq_ignore_ascii_case(word))
    {
        return None; // UPDATE OR …, UPDATE ONLY …: not the plain shape
    }
    // A write that reads (`INSERT … SELECT`, `UPDATE … FROM`, a subquery) would not see the
    // other writes sent in the same statement, and one statement is all a deferred write may
    // be: neither is ever deferred.
    let reads = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.eq_ignore_ascii_case("SELECT") || word.eq_ignore_ascii_case("FROM"))
        .count();
    let own_from = usize::from(first.eq_ignore_ascii_case("DELETE"));
    if reads > own_from || sql.trim_end().trim_end_matches(';').contains(';') {
        return None;
    }
    table
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then(|| table.to_ascii_lowercase())
}

/// `sql` with each placeholder `$n` (outside string literals) renumbered `$(n + offset)`.
fn shift_placeholders(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut in_literal = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c == '\'' {
            in_literal = !in_literal;
        } else if c == '$' && !in_literal {
            let mut number = 0usize;
            let mut digits = 0;
            while let Some(&(_, d)) = chars.peek() {
                let Some(value) = d.to_digit(10) else { break };
                number = number * 10 + value as usize;
                digits += 1;
                chars.next();
            }
            if digits > 0 {
                out.push_str(&(number + offset).to_string());
            }
        }
    }
    out
}

/// Whether `sql` may change the database: anything but a plain `SELECT` counts.
pub(crate) fn may_write(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next();
    !first.is_some_and(|word| word.eq_ignore_ascii_case("SELECT"))
}

fn pg_params<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| param as &(dyn ToSql + Sync))
        .collect()
}

/// PostgreSQL refuses text holding a NUL character, and a refused statement aborts the
/// transaction: such text is refused here, before anything is sent.
fn pg_check_text(params: &[Param<'_>]) -> Result<(), DbError> {
    if params
        .iter()
        .any(|param| matches!(param, Param::Text(text) if text.contains('\0')))
    {
        return Err(DbError::decode("text with a NUL character"));
    }
    Ok(())
}

fn sqlite_value(value: rusqlite::types::ValueRef<'_>) -> Result<Value, DbError> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(value) => Value::Int(value),
        ValueRef::Text(text) => Value::Text(
            std::str::from_utf8(text)
                .map_err(|_| DbError::decode("text is not UTF-8"))?
                .to_owned(),
        ),
        ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
        ValueRef::Real(_) => return Err(DbError::decode("REAL column: the schema has none")),
    })
}

fn pg_row(row: &postgres::Row) -> Result<Row, DbError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                row.try_get::<_, Option<String>>(index)?.map(Value::Text)
            }
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Blob),
            ref other => return Err(DbError::decode(format!("unsupported column type {other}"))),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row { values })
}

/// Rewrites `$N` placeholders to SQLite's `?N`, leaving string literals alone. Runs for every
/// statement, so it copies runs of text rather than characters, and nothing when there is no
/// placeholder.
pub(crate) fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut copied = 0;
    for (at, c) in sql.match_indices(['$', '\'']) {
        if c == "'" {
            in_literal = !in_literal;
        } else if !in_literal && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
            out.push_str(&sql[copied..at]);
            out.push('?');
            copied = at + 1;
        }
    }
    out.push_str(&sql[copied..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{
        Conn, Link, SQLITE_CACHE_KIB, SQLITE_SMALL_DATABASE_CACHE_KIB, changes_cached,
        changes_credentials, may_write, shift_placeholders, sqlite_sql, writer_cache_kib,
        written_table,
    };

    #[test]
    fn writes_that_may_change_a_cached_row_are_recognised() {
        assert_eq!(
            changes_cached("UPDATE merchants SET notify_url = $2 WHERE id = $1"),
            1
        );
        assert_eq!(changes_cached("update USERS set pin_failures = 0"), 2);
        assert_eq!(changes_cached("DELETE FROM users WHERE id = $1"), 2);
        assert_eq!(
            changes_cached("ALTER TABLE merchants ADD x INT; UPDATE users SET a = 1"),
            3
        );
        for sql in [
            "INSERT INTO users (id) VALUES ($1)",
            "SELECT * FROM merchants",
            "UPDATE orders SET merchant_id = $1",
            "UPDATE merchant_keys SET expires_ns = 1",
        ] {
            assert_eq!(changes_cached(sql), 0, "{sql}");
        }
        assert_eq!(
            changes_cached(
                "INSERT INTO merchants (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET a = 1"
            ),
            1
        );
        assert_eq!(changes_cached("UPDATE ONLY users SET a = 1"), 2);
        assert_eq!(changes_cached("DELETE FROM ONLY public.merchants"), 1);
        assert_eq!(changes_cached("UPDATE public.users SET a = 1"), 2);
        assert_eq!(
            changes_cached("UPDATE orders SET a = 1; UPDATE merchants SET b = 2"),
            1,
            "a second statement counts"
        );
    }

    #[test]
    fn deferred_writes_name_their_table_and_shift_their_placeholders() {
        assert_eq!(
            written_table("INSERT INTO orders (id) VALUES ($1)").as_deref(),
            Some("orders")
        );
        assert_eq!(
            written_table("insert into Activity(id) values ($1)").as_deref(),
            Some("activity")
        );
        assert_eq!(
            written_table("UPDATE outflows SET total = $3").as_deref(),
            Some("outflows")
        );
        assert_eq!(
            written_table("DELETE FROM events WHERE id = $1").as_deref(),
            Some("events")
        );
        for other in [
            "INSERT OR REPLACE INTO t VALUES (1)",
            "UPDATE OR IGNORE t SET a = 1",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "SELECT 1",
            "UPDATE \"t\" SET a = 1",
            "INSERT INTO t (a) SELECT a FROM u",
            "UPDATE t SET a = u.a FROM u WHERE t.id = u.id",
            "UPDATE t SET a = (SELECT 1)",
            "DELETE FROM t WHERE id IN (SELECT id FROM u)",
            "UPDATE t SET a = 1; UPDATE u SET b = 2",
            "",
        ] {
            assert_eq!(written_table(other), None, "{other}");
        }
        assert_eq!(
            shift_placeholders("UPDATE t SET a = $2, b = '$1' WHERE id = $1 AND c = $10", 5),
            "UPDATE t SET a = $7, b = '$1' WHERE id = $6 AND c = $15"
        );
        assert_eq!(
            shift_placeholders("SELECT '价' || $1", 2),
            "SELECT '价' || $3"
        );
    }

    #[test]
    fn only_plain_selects_count_as_reads() {
        for sql in ["SELECT 1", "  select id FROM orders", "SELECT\n1"] {
            assert!(!may_write(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO orders VALUES (1)",
            "UPDATE orders SET a = 1",
            "WITH x AS (SELECT 1) DELETE FROM orders",
            "SELECTED", // not a keyword: counts as a write, the safe side
            "PRAGMA foo",
            "",
        ] {
            assert!(may_write(sql), "{sql}");
        }
    }

    #[test]
    fn writes_that_may_revoke_a_credential_are_recognised() {
        for sql in [
            "UPDATE sessions SET revoked_ns = $2 WHERE token_hash = $1",
            "update  devices set pay_enabled_ns = NULL",
            "UPDATE OR IGNORE merchant_keys SET expires_ns = 1",
            "DELETE FROM staff_sessions WHERE expires_ns < $1",
            "DELETE FROM \"devices\" WHERE id = $1",
            "INSERT INTO sessions (token_hash) VALUES ($1) ON CONFLICT (token_hash) DO UPDATE SET revoked_ns = NULL",
            "INSERT OR REPLACE INTO devices (id) VALUES ($1)",
            "REPLACE INTO merchant_keys (id) VALUES ($1)",
            "WITH gone AS (SELECT 1) DELETE FROM sessions",
            "DROP TABLE devices",
        ] {
            assert!(changes_credentials(sql), "{sql}");
        }
        for sql in [
            "SELECT user_id FROM sessions WHERE token_hash = $1",
            "INSERT INTO sessions (token_hash, user_id) VALUES ($1, $2)",
            "INSERT INTO merchant_nonces (merchant_id, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            "UPDATE orders SET status = $2 WHERE id = $1",
            "UPDATE users SET pin_failures = 0 WHERE id = $1",
            "DELETE FROM merchant_nonces WHERE seen_ns < $1",
            "SAVEPOINT op",
            "WITH x AS (SELECT 1) UPDATE device_sessions_log SET a = 1",
            "",
        ] {
            assert!(!changes_credentials(sql), "{sql}");
        }
    }

    #[test]
    fn rewrites_placeholders_outside_literals() {
        assert_eq!(sqlite_sql("SELECT $1, '$2', $10"), "SELECT ?1, '$2', ?10");
        assert_eq!(
            sqlite_sql("SELECT 'it''s $1' || $2"),
            "SELECT 'it''s $1' || ?2"
        );
        assert_eq!(sqlite_sql("SELECT 1 -- 价格 $"), "SELECT 1 -- 价格 $");
        assert_eq!(
            sqlite_sql("SELECT '价' || $1 || '$2'"),
            "SELECT '价' || ?1 || '$2'"
        );
    }

    #[test]
    fn writer_cache_small_until_the_pending_byte() {
        assert_eq!(writer_cache_kib(0), SQLITE_SMALL_DATABASE_CACHE_KIB);
        assert_eq!(writer_cache_kib(1 << 30), SQLITE_SMALL_DATABASE_CACHE_KIB);
        assert_eq!(writer_cache_kib((1 << 30) + 4096), SQLITE_CACHE_KIB);
        const { assert!(SQLITE_SMALL_DATABASE_CACHE_KIB < SQLITE_CACHE_KIB) };

        let path = std::env::temp_dir().join(format!(
            "cashless-cache-{}-{}.db",
            std::process::id(),
            crate::now_ns()
        ));
        let mut conn = Conn::open_sqlite(&path).unwrap();
        let size = |conn: &mut Conn| match &conn.link {
            Link::Sqlite(connection) => connection
                .query_row("PRAGMA cache_size", [], |row| row.get::<_, i64>(0))
                .unwrap(),
            Link::Postgres(_) => unreachable!(),
        };
        assert_eq!(
            size(&mut conn),
            -SQLITE_CACHE_KIB,
            "readers keep the full cache"
        );
        conn.fit_writer_cache().unwrap();
        assert_eq!(size(&mut conn), -SQLITE_SMALL_DATABASE_CACHE_KIB);
        drop(conn);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}
