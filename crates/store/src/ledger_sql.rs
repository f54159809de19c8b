//! The ledger's tables: encoding rows, rebuilding the in-memory ledger at start-up, writing a
//! batch's changes (a fast path per backend), and reading accounts and transfers back.

use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, Balances, Changes, ColdStore,
    CreateTransferResult, Currency, IdMap, Ledger, LedgerConfig, PendingStatus, Transfer,
    TransferFlags, TransferId, TransferRecord,
};
use postgres::types::Type;

use crate::db::{Conn, DbError, Link, Param, Row};

const ACCOUNT_COLUMNS: &str = "id, currency, kind, flags, debits_pending, debits_posted, \
     credits_pending, credits_posted, reference, ts, head";

const TRANSFER_COLUMNS: &str = "ts, id, debit_account_id, credit_account_id, amount, pending_id, \
     timeout_secs, currency, code, flags, reference, result, pending_status, debit_prev, credit_prev";

/// An account as stored: the ledger's account plus the head of its transfer list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AccountRow {
    pub account: Account,
    /// Timestamp of the newest transfer that moved this account's balances; 0 if none.
    pub head: u64,
}

/// A transfer as stored: the record plus its links in the two accounts' lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransferRow {
    pub record: TransferRecord,
    /// Timestamp of the previous transfer of the debit account; 0 if none.
    pub debit_prev: u64,
    /// Timestamp of the previous transfer of the credit account; 0 if none.
    pub credit_prev: u64,
}

impl TransferRow {
    /// The previous transfer in `account`'s list, if this transfer belongs to it.
    pub fn prev_for(&self, account: AccountId) -> Option<u64> {
        let transfer = &self.record.transfer;
        if transfer.debit_account_id == account {
            Some(self.debit_prev)
        } else if transfer.credit_account_id == account {
            Some(self.credit_prev)
        } else {
            None
        }
    }
}

fn ns(value: i64) -> Result<u64, DbError> {
    u64::try_from(value).map_err(|_| DbError::decode(format!("negative value {value}")))
}

fn small<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, DbError> {
    T::try_from(value).map_err(|_| DbError::decode(format!("{what} {value} out of range")))
}

fn opt_u128(value: u128) -> Option<[u8; 16]> {
    (value != 0).then(|| value.to_be_bytes())
}

fn decode_account(row: &Row) -> Result<AccountRow, DbError> {
    let currency = small::<u16>(row.int(1)?, "currency")?;
    let kind = small::<u16>(row.int(2)?, "account kind")?;
    let account = Account {
        id: AccountId(row.u128(0)?),
        currency: Currency::from_numeric(currency)
            .ok_or_else(|| DbError::decode(format!("unknown currency {currency}")))?,
        kind: AccountKind::from_u16(kind)
            .ok_or_else(|| DbError::decode(format!("unknown account kind {kind}")))?,
        flags: AccountFlags(small(row.int(3)?, "account flags")?),
        balances: Balances {
            debits_pending: ns(row.int(4)?)?,
            debits_posted: ns(row.int(5)?)?,
            credits_pending: ns(row.int(6)?)?,
            credits_posted: ns(row.int(7)?)?,
        },
        reference: row.u128_or_zero(8)?,
        timestamp: ns(row.int(9)?)?,
    };
    Ok(AccountRow {
        account,
        head: ns(row.int(10)?)?,
    })
}

fn decode_transfer(row: &Row) -> Result<TransferRow, DbError> {
    let currency = small::<u16>(row.int(7)?, "currency")?;
    let result = small::<u16>(row.int(11)?, "result")?;
    let status = small::<u8>(row.int(12)?, "pending status")?;
    let transfer = Transfer {
        id: TransferId(row.u128(1)?),
        debit_account_id: AccountId(row.u128(2)?),
        credit_account_id: AccountId(row.u128(3)?),
        amount: ns(row.int(4)?)?,
        pending_id: TransferId(row.u128_or_zero(5)?),
        timeout_secs: small(row.int(6)?, "timeout")?,
        currency: Currency::from_numeric(currency)
            .ok_or_else(|| DbError::decode(format!("unknown currency {currency}")))?,
        code: small(row.int(8)?, "transfer code")?,
        flags: TransferFlags(small(row.int(9)?, "transfer flags")?),
        reference: row.u128_or_zero(10)?,
        timestamp: ns(row.int(0)?)?,
    };
    let record = TransferRecord {
        transfer,
        result: CreateTransferResult::from_u16(result)
            .ok_or_else(|| DbError::decode(format!("unknown result {result}")))?,
        pending_status: PendingStatus::from_u8(status)
            .ok_or_else(|| DbError::decode(format!("unknown pending status {status}")))?,
    };
    Ok(TransferRow {
        record,
        debit_prev: ns(row.int(13)?)?,
        credit_prev: ns(row.int(14)?)?,
    })
}
/// Looks up evicted transfers in the database, inside the writer's transaction.
pub(crate) struct ColdLookup<'a>(pub &'a mut Conn);

impl ColdStore for ColdLookup<'_> {
    type Error = DbError;
    fn transfer(&mut self, id: TransferId) -> Result<Option<TransferRecord>, DbError> {
        Ok(transfer_by_id(self.0, id)?.map(|row| row.record))
    }
}

pub(crate) fn transfer_by_id(
    conn: &mut Conn,
    id: TransferId,
) -> Result<Option<TransferRow>, DbError> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = $1");
    conn.query_opt(&sql, &[Param::Blob(&id.to_bytes())])?
        .as_ref()
        .map(decode_transfer)
        .transpose()
}

/// Up to `limit` transfers of `account`, newest first, starting at the transfer with
/// timestamp `start` (the account's head for the first page): a walk down the linked list.
/// The walk only steps on the account's own successful transfers no newer than `durable`, so
/// a cursor that points elsewhere yields nothing rather than someone else's history.
pub(crate) fn account_transfers(
    conn: &mut Conn,
    account: AccountId,
    start: u64,
    limit: u32,
    durable: u64,
) -> Result<Vec<TransferRow>, DbError> {
    let columns = TRANSFER_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let own =
        "(t.debit_account_id = $1 OR t.credit_account_id = $1) AND t.result = 0 AND t.ts <= $4";
    let sql = format!(
        "WITH RECURSIVE chain(ts, n) AS (
             SELECT CAST($2 AS BIGINT), 1
             UNION ALL
             SELECT CASE WHEN t.debit_account_id = $1 THEN t.debit_prev ELSE t.credit_prev END,
                    chain.n + 1
                          FROM chain JOIN ledger_transfers t ON t.ts = chain.ts AND {own}
             WHERE chain.n < $3
         )
         SELECT {columns} FROM chain JOIN ledger_transfers t ON t.ts = chain.ts AND {own}
         ORDER BY t.ts DESC"
    );
    let params = [
        Param::Blob(&account.to_bytes()),
        Param::Int(start as i64),
        Param::Int(limit.into()),
        Param::Int(durable as i64),
    ];
    conn.query(&sql, &params)?
        .iter()
        .map(decode_transfer)
        .collect()
}

/// What the store keeps per account beside the ledger: its row number, the head of its
/// transfer list, and whether its row is behind memory (changed since the last balance
/// checkpoint).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot {
    /// The account's integer key (`ledger_accounts.no`): checkpoints find rows by it.
    pub no: i64,
    /// Timestamp of the newest transfer that moved the account; 0 if none.
    pub head: u64,
    dirty: bool,
    /// The batch (see `Slots::epoch`) that last listed this account as touched.
    touched_epoch: u64,
}

/// The store's per-account bookkeeping and the balance checkpoint's progress.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    map: IdMap<AccountId, Slot>,
    next_no: i64,
    /// Accounts whose balances changed since the last checkpoint, in the order first changed.
    dirty: Vec<AccountId>,
    /// Transfers written since the last checkpoint: bounds what recovery replays.
    pub since_checkpoint: u64,
    /// Counts batches, so each lists an account as touched once.
    epoch: u64,
}

impl Slots {
    pub fn get(&self, id: AccountId) -> Slot {
        self.map.get(&id).copied().unwrap_or_default()
    }

    pub fn dirty(&self) -> &[AccountId] {
        &self.dirty
    }

    /// A checkpoint of every dirty account committed: the rows caught up with memory.
    pub fn checkpointed(&mut self) {
        for id in self.dirty.drain(..) {
            if let Some(slot) = self.map.get_mut(&id) {
                slot.dirty = false;
            }
        }
        self.since_checkpoint = 0;
    }
}

/// The in-memory ledger and account slots, rebuilt from the database.
pub(crate) struct Recovered {
    pub ledger: Ledger,
    pub slots: Slots,
}

/// Rebuilds memory from storage: every account at its last balance checkpoint, then the
/// transfers and expiries since replayed onto it; every unresolved pending transfer; and the
/// newest `transfers_cached_max` transfers by id (setting the watermark below them).
pub(crate) fn recover(conn: &mut Conn, config: LedgerConfig) -> Result<Recovered, DbError> {
    let mut slots = Slots {
        next_no: 1,
        ..Slots::default()
    };
    let mut accounts: IdMap<AccountId, Account> = IdMap::default();
    for row in conn.query(
        &format!("SELECT {ACCOUNT_COLUMNS}, no FROM ledger_accounts"),
        &[],
    )? {
        let AccountRow { account, head } = decode_account(&row)?;
        let no = row.int(11)?;
        slots.map.insert(
            account.id,
            Slot {
                no,
                head,
                ..Slot::default()
            },
        );
        slots.next_no = slots.next_no.max(no + 1);
        accounts.insert(account.id, account);
    }
    let checkpoint = meta(conn, "balances_ts")?;
    let replayed = replay(conn, checkpoint, &mut accounts, &mut slots)?;
    let mut ledger = Ledger::new(config);
    for account in accounts.into_values() {
        ledger.restore_account(account);
    }
    let unresolved =
        format!("SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE pending_status = 1");
    for row in conn.query(&unresolved, &[])? {
        ledger.restore_transfer(decode_transfer(&row)?.record);
    }
    let cached_max = i64::try_from(config.transfers_cached_max).unwrap_or(i64::MAX);
    let recent =
        format!("SELECT {TRANSFER_COLUMNS} FROM ledger_transfers ORDER BY id DESC LIMIT $1");
    let rows = conn.query(&recent, &[Param::Int(cached_max)])?;
    let mut smallest = 0;
    for row in &rows {
        let record = decode_transfer(row)?.record;
        smallest = record.transfer.id.0;
        ledger.restore_transfer(record);
    }
    let watermark = if rows.len() as i64 == cached_max {
        smallest
    } else {
        0
    };
    let newest = |sql: &str, conn: &mut Conn| -> Result<u64, DbError> {
        ns(conn
            .query_opt(sql, &[])?
            .map(|row| row.opt_int(0))
            .transpose()?
            .flatten()
            .unwrap_or(0))
    };
    let timestamp = newest("SELECT MAX(ts) FROM ledger_transfers", conn)?
        .max(newest("SELECT MAX(ts) FROM ledger_expiries", conn)?)
        .max(checkpoint);
    ledger.restore_finish(watermark, timestamp);
    tracing::info!(
        replayed,
        "ledger recovered from the last balance checkpoint"
    );
    Ok(Recovered { ledger, slots })
}

fn meta(conn: &mut Conn, name: &str) -> Result<u64, DbError> {
    let row = conn
        .query_opt(
            "SELECT value FROM ledger_meta WHERE name = $1",
            &[Param::Text(name)],
        )?
        .ok_or_else(|| DbError::decode(format!("ledger_meta has no {name}")))?;
    ns(row.int(0)?)
}

/// Per-account balance changes, summed wide so replay order cannot overflow.
#[derive(Default)]
struct Delta {
    debits_pending: i128,
    debits_posted: i128,
    credits_pending: i128,
    credits_posted: i128,
}

/// Applies every transfer and expiry after the checkpoint at `since` to the accounts, marking
/// them dirty (their rows are behind). Returns how many events were replayed.
fn replay(
    conn: &mut Conn,
    since: u64,
    accounts: &mut IdMap<AccountId, Account>,
    slots: &mut Slots,
) -> Result<u64, DbError> {
    let mut deltas: IdMap<AccountId, Delta> = IdMap::default();
    let mut replayed = 0;
    let transfers = conn.query(
        "SELECT t.ts, t.debit_account_id, t.credit_account_id, t.amount, t.flags, p.amount \
         FROM ledger_transfers t LEFT JOIN ledger_transfers p ON p.id = t.pending_id \
         WHERE t.ts > $1 AND t.result = 0 ORDER BY t.ts",
        &[Param::Int(since as i64)],
    )?;
    for row in &transfers {
        let (ts, debit, credit) = (
            ns(row.int(0)?)?,
            AccountId(row.u128(1)?),
            AccountId(row.u128(2)?),
        );
        let amount = i128::from(row.int(3)?);
        let flags = TransferFlags(small(row.int(4)?, "transfer flags")?);
        let (mut pending, mut posted) = (0i128, 0i128);
        if flags.is_pending() {
            pending = amount;
        } else if flags.resolves_pending() {
            let reserved = row
                .opt_int(5)?
                .ok_or_else(|| DbError::decode("a post or void without its pending transfer"))?;
            pending = -i128::from(reserved);
            if flags.contains(TransferFlags::POST_PENDING) {
                posted = amount;
            }
        } else {
            posted = amount;
        }
        let d = deltas.entry(debit).or_default();
        d.debits_pending += pending;
        d.debits_posted += posted;
        let c = deltas.entry(credit).or_default();
        c.credits_pending += pending;
        c.credits_posted += posted;
        for account in [debit, credit] {
            slots.map.entry(account).or_default().head = ts;
        }
        replayed += 1;
    }
    let expiries = conn.query(
        "SELECT p.debit_account_id, p.credit_account_id, p.amount \
         FROM ledger_expiries e JOIN ledger_transfers p ON p.ts = e.pending_ts WHERE e.ts > $1",
        &[Param::Int(since as i64)],
    )?;
    for row in &expiries {
        let amount = i128::from(row.int(2)?);
        deltas
            .entry(AccountId(row.u128(0)?))
            .or_default()
            .debits_pending -= amount;
        deltas
            .entry(AccountId(row.u128(1)?))
            .or_default()
            .credits_pending -= amount;
        replayed += 1;
    }
    for (id, delta) in deltas {
        let account = accounts.get_mut(&id).ok_or_else(|| {
            DbError::decode(format!(
                "a transfer names account {id}, which is not stored"
            ))
        })?;
        let b = &mut account.balances;
        let apply = |value: u64, change: i128| {
            u64::try_from(i128::from(value) + change)
                .ok()
                .filter(|&sum| sum <= cashless_ledger::AMOUNT_MAX)
                .ok_or_else(|| {
                    DbError::decode(format!(
                        "replaying account {id} leaves a balance out of range"
                    ))
                })
        };
        b.debits_pending = apply(b.debits_pending, delta.debits_pending)?;
        b.debits_posted = apply(b.debits_posted, delta.debits_posted)?;
        b.credits_pending = apply(b.credits_pending, delta.credits_pending)?;
        b.credits_posted = apply(b.credits_posted, delta.credits_posted)?;
        let slot = slots.map.entry(id).or_default();
        if !slot.dirty {
            slot.dirty = true;
            slots.dirty.push(id);
        }
    }
    slots.since_checkpoint = transfers.len() as u64;
    Ok(replayed)
}

#[derive(Debug)]
enum SlotUndo {
    Head(AccountId, u64),
    Created(AccountId),
    Dirty,
}

/// Changes to the slots while a batch is written, undone if the commit fails.
pub(crate) struct SlotWriter<'a> {
    slots: &'a mut Slots,
    next_no_before: i64,
    since_checkpoint_before: u64,
    undo: Vec<SlotUndo>,
    /// Accounts whose balances this batch changed, to publish after the commit.
    pub touched: Vec<AccountId>,
}

impl<'a> SlotWriter<'a> {
    pub fn new(slots: &'a mut Slots) -> SlotWriter<'a> {
        slots.epoch += 1;
        let (next_no_before, since_checkpoint_before) = (slots.next_no, slots.since_checkpoint);
        SlotWriter {
            slots,
            next_no_before,
            since_checkpoint_before,
            undo: Vec::new(),
            touched: Vec::new(),
        }
    }

    pub fn slots(&self) -> &Slots {
        self.slots
    }

    /// Numbers a new account.
    fn create(&mut self, id: AccountId) -> i64 {
        let no = self.slots.next_no;
        self.slots.next_no += 1;
        let epoch = self.slots.epoch;
        self.slots.map.insert(
            id,
            Slot {
                no,
                touched_epoch: epoch,
                ..Slot::default()
            },
        );
        self.undo.push(SlotUndo::Created(id));
        self.touched.push(id);
        no
    }

    /// Links a new transfer into both accounts' lists; returns (debit_prev, credit_prev).
    fn link(&mut self, record: &TransferRecord) -> (u64, u64) {
        self.slots.since_checkpoint += 1;
        if record.result != CreateTransferResult::Ok {
            return (0, 0);
        }
        let t = &record.transfer;
        let debit_prev = self.replace_head(t.debit_account_id, t.timestamp);
        let credit_prev = self.replace_head(t.credit_account_id, t.timestamp);
        (debit_prev, credit_prev)
    }

    fn replace_head(&mut self, id: AccountId, head: u64) -> u64 {
        let previous = self.slots.get(id).head;
        self.slots.map.entry(id).or_default().head = head;
        self.undo.push(SlotUndo::Head(id, previous));
        self.touch(id);
        previous
    }

    /// The account's balances changed in this batch: its row is now behind memory.
    fn touch(&mut self, id: AccountId) {
        let epoch = self.slots.epoch;
        let slot = self.slots.map.entry(id).or_default();
        if slot.touched_epoch != epoch {
            slot.touched_epoch = epoch;
            self.touched.push(id);
        }
        if !slot.dirty {
            slot.dirty = true;
            self.slots.dirty.push(id);
            self.undo.push(SlotUndo::Dirty);
        }
    }

    /// The batch did not commit: put every slot back as it was.
    pub fn rollback(self) {
        for entry in self.undo.into_iter().rev() {
            match entry {
                SlotUndo::Head(id, previous) => {
                    if let Some(slot) = self.slots.map.get_mut(&id) {
                        slot.head = previous;
                    }
                }
                SlotUndo::Created(id) => {
                    self.slots.map.remove(&id);
                }
                SlotUndo::Dirty => {
                    if let Some(id) = self.slots.dirty.pop()
                        && let Some(slot) = self.slots.map.get_mut(&id)
                    {
                        slot.dirty = false;
                    }
                }
            }
        }
        self.slots.next_no = self.next_no_before;
        self.slots.since_checkpoint = self.since_checkpoint_before;
    }
}

/// Writes a batch's changes inside the open transaction: new transfers, new accounts (with
/// zero balances: their transfers are in the log), resolved pending transfers and expiries.
/// Existing accounts' rows are not touched: balances are written by [`write_checkpoint`].
pub(crate) fn persist(
    conn: &mut Conn,
    changes: &Changes<'_>,
    slots: &mut SlotWriter<'_>,
) -> Result<(), DbError> {
    let created: Vec<(&Account, i64)> = changes
        .accounts_created()
        .map(|account| (account, slots.create(account.id)))
        .collect();
    match &mut conn.link {
        Link::Sqlite(connection) => persist_sqlite(connection, changes, &created, slots)?,
        Link::Postgres(pg) => persist_postgres(pg.client()?, changes, &created, slots)?,
    }
    for (record, resolved_at) in changes.pending_resolved() {
        let t = &record.transfer;
        conn.execute(
            "UPDATE ledger_transfers SET pending_status = $2 WHERE ts = $1",
            &[
                Param::Int(t.timestamp as i64),
                Param::Int(record.pending_status.as_u8().into()),
            ],
        )?;
        if record.pending_status == PendingStatus::Expired {
            // An expiry moves balances without a transfer row: log it for replay.
            conn.execute(
                "INSERT INTO ledger_expiries (ts, pending_ts) VALUES ($1, $2)",
                &[
                    Param::Int(resolved_at as i64),
                    Param::Int(t.timestamp as i64),
                ],
            )?;
            slots.touch(t.debit_account_id);
            slots.touch(t.credit_account_id);
        }
    }
    Ok(())
}

/// Writes the balances and heads of every dirty account and moves the checkpoint to
/// `timestamp` (the ledger's clock after the batch), inside the open transaction.
pub(crate) fn write_checkpoint(
    conn: &mut Conn,
    rows: &[(Slot, Account)],
    timestamp: u64,
) -> Result<(), DbError> {
    match &mut conn.link {
        Link::Sqlite(connection) => {
            let mut update = connection.prepare_cached(
                "UPDATE ledger_accounts SET debits_pending = ?2, debits_posted = ?3, \
                 credits_pending = ?4, credits_posted = ?5, head = ?6 WHERE no = ?1",
            )?;
            for (slot, account) in rows {
                let b = &account.balances;
                update.execute(rusqlite::params![
                    slot.no,
                    b.debits_pending as i64,
                    b.debits_posted as i64,
                    b.credits_pending as i64,
                    b.credits_posted as i64,
                    slot.head as i64,
                ])?;
            }
        }
        Link::Postgres(pg) => {
            let numbers: Vec<i64> = rows.iter().map(|(slot, _)| slot.no).collect();
            let accounts: Vec<&Account> = rows.iter().map(|(_, account)| account).collect();
            let balances = balance_columns(&accounts);
            let heads: Vec<i64> = rows.iter().map(|(slot, _)| slot.head as i64).collect();
            pg.client()?.execute(
                "UPDATE ledger_accounts AS a SET debits_pending = u.dp, debits_posted = u.dpo, \
                 credits_pending = u.cp, credits_posted = u.cpo, head = u.head \
                 FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
                 AS u(no, dp, dpo, cp, cpo, head) WHERE a.no = u.no",
                &[&numbers, &balances[0], &balances[1], &balances[2], &balances[3], &heads],
            )?;
        }
    }
    conn.execute(
        "UPDATE ledger_meta SET value = $1 WHERE name = 'balances_ts'",
        &[Param::Int(timestamp as i64)],
    )?;
    Ok(())
}

/// Rows per multi-row INSERT: one statement binds and steps many rows, cheaper than one
/// statement per row. 64 × 15 parameters stays far below SQLite's 32,766-parameter limit.
const SQLITE_ROWS_PER_STATEMENT: usize = 64;

const TRANSFER_INSERT: &str = "INSERT INTO ledger_transfers (ts, id, debit_account_id, \
    credit_account_id, amount, pending_id, timeout_secs, currency, code, flags, reference, result, \
    pending_status, debit_prev, credit_prev) VALUES ";

const TRANSFER_INSERT_COLUMNS: usize = 15;

fn multi_row_sql(prefix: &str, columns: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    format!("{prefix}{}", vec![group; rows].join(", "))
}

/// The transfer INSERT for 1 to `SQLITE_ROWS_PER_STATEMENT` rows, built once: small batches
/// (one payment per request) must not pay for formatting SQL.
fn transfer_insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=SQLITE_ROWS_PER_STATEMENT)
            .map(|rows| multi_row_sql(TRANSFER_INSERT, TRANSFER_INSERT_COLUMNS, rows))
            .collect()
    });
    &all[rows]
}

/// The fifteen column values of a transfer row, in `TRANSFER_COLUMNS` order, lent to
/// `use_row`: borrowed, so a row costs no allocation on either backend.
fn with_transfer_row<R>(
    record: &TransferRecord,
    (debit_prev, credit_prev): (u64, u64),
    use_row: impl FnOnce(&[Param<'_>; 15]) -> R,
) -> R {
    let t = &record.transfer;
    let (id, debit, credit) = (
        t.id.to_bytes(),
        t.debit_account_id.to_bytes(),
        t.credit_account_id.to_bytes(),
    );
    let (pending, reference) = (opt_u128(t.pending_id.0), opt_u128(t.reference));
    let row = [
        Param::Int(t.timestamp as i64),
        Param::Blob(&id),
        Param::Blob(&debit),
        Param::Blob(&credit),
        Param::Int(sql_amount(t.amount)),
        Param::opt_blob(pending.as_ref().map(|p| p.as_slice())),
        Param::Int(t.timeout_secs.into()),
        Param::Int(t.currency.numeric().into()),
        Param::Int(t.code.into()),
        Param::Int(t.flags.0.into()),
        Param::opt_blob(reference.as_ref().map(|r| r.as_slice())),
        Param::Int(record.result.as_u16().into()),
        Param::Int(record.pending_status.as_u8().into()),
        Param::Int(debit_prev as i64),
        Param::Int(credit_prev as i64),
    ];
    use_row(&row)
}

/// Binds one transfer row at `*index` onwards (SQLite copies bound values).
fn bind_transfer(
    statement: &mut rusqlite::CachedStatement<'_>,
    index: &mut usize,
    record: &TransferRecord,
    links: (u64, u64),
) -> rusqlite::Result<()> {
    with_transfer_row(record, links, |row| {
        for value in row {
            statement.raw_bind_parameter(*index, value)?;
            *index += 1;
        }
        Ok(())
    })
}

fn persist_sqlite(
    connection: &rusqlite::Connection,
    changes: &Changes<'_>,
    created: &[(&Account, i64)],
    slots: &mut SlotWriter<'_>,
) -> Result<(), DbError> {
    let records: Vec<&TransferRecord> = changes.transfers_created().collect();
    for chunk in records.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut statement = connection.prepare_cached(transfer_insert_sql(chunk.len()))?;
        let mut index = 1;
        for record in chunk {
            let links = slots.link(record);
            bind_transfer(&mut statement, &mut index, record, links)?;
        }
        statement.raw_execute()?;
    }
    let mut insert = connection.prepare_cached(
        "INSERT INTO ledger_accounts (no, id, currency, kind, flags, debits_pending, \
         debits_posted, credits_pending, credits_posted, reference, ts, head) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0, 0, ?6, ?7, 0)",
    )?;
    for (account, no) in created {
        insert.execute(rusqlite::params![
            no,
            account.id.to_bytes(),
            i64::from(account.currency.numeric()),
            i64::from(account.kind.as_u16()),
            i64::from(account.flags.0),
            opt_u128(account.reference),
            account.timestamp as i64,
        ])?;
    }
    Ok(())
}

fn persist_postgres(
    client: &mut postgres::Client,
    changes: &Changes<'_>,
    created: &[(&Account, i64)],
    slots: &mut SlotWriter<'_>,
) -> Result<(), DbError> {
    if changes.transfers_created().next().is_some() {
        copy_transfers(client, changes, slots)?;
    }
    if !created.is_empty() {
        let accounts: Vec<&Account> = created.iter().map(|(account, _)| *account).collect();
        let numbers: Vec<i64> = created.iter().map(|(_, no)| *no).collect();
        let ids: Vec<Vec<u8>> = accounts.iter().map(|a| a.id.to_bytes().to_vec()).collect();
        let currencies: Vec<i16> = accounts
            .iter()
            .map(|a| a.currency.numeric() as i16)
            .collect();
        let kinds: Vec<i16> = accounts.iter().map(|a| a.kind.as_u16() as i16).collect();
        let flags: Vec<i16> = accounts.iter().map(|a| a.flags.0 as i16).collect();
        let references: Vec<Option<Vec<u8>>> = accounts
            .iter()
            .map(|a| opt_u128(a.reference).map(|r| r.to_vec()))
            .collect();
        let timestamps: Vec<i64> = accounts.iter().map(|a| a.timestamp as i64).collect();
        client.execute(
            "INSERT INTO ledger_accounts (no, id, currency, kind, flags, debits_pending, \
             debits_posted, credits_pending, credits_posted, reference, ts, head) \
             SELECT no, id, currency, kind, flags, 0, 0, 0, 0, reference, ts, 0 \
             FROM unnest($1::int8[], $2::bytea[], $3::int2[], $4::int2[], $5::int2[], \
             $6::bytea[], $7::int8[]) AS u(no, id, currency, kind, flags, reference, ts)",
            &[
                &numbers,
                &ids,
                &currencies,
                &kinds,
                &flags,
                &references,
                &timestamps,
            ],
        )?;
    }
    Ok(())
}

/// An amount or running total as its column holds it. The ledger keeps each at most
/// `AMOUNT_MAX` (= `i64::MAX`), so this never saturates.
fn sql_amount(minor: u64) -> i64 {
    debug_assert!(minor <= cashless_ledger::AMOUNT_MAX);
    i64::try_from(minor).unwrap_or(i64::MAX)
}

fn balance_columns(accounts: &[&Account]) -> [Vec<i64>; 4] {
    [
        accounts
            .iter()
            .map(|a| sql_amount(a.balances.debits_pending))
            .collect(),
        accounts
            .iter()
            .map(|a| sql_amount(a.balances.debits_posted))
            .collect(),
        accounts
            .iter()
            .map(|a| sql_amount(a.balances.credits_pending))
            .collect(),
        accounts
            .iter()
            .map(|a| sql_amount(a.balances.credits_posted))
            .collect(),
    ]
}

/// Binary COPY: the fastest way into PostgreSQL, one round trip for the whole batch.
fn copy_transfers(
    client: &mut postgres::Client,
    changes: &Changes<'_>,
    slots: &mut SlotWriter<'_>,
) -> Result<(), DbError> {
    use postgres::binary_copy::BinaryCopyInWriter;
    let sink = client.copy_in(
        "COPY ledger_transfers (ts, id, debit_account_id, credit_account_id, amount, pending_id, \
         timeout_secs, currency, code, flags, reference, result, pending_status, debit_prev, \
         credit_prev) FROM STDIN (FORMAT binary)",
    )?;
    let types = [
        Type::INT8,
        Type::BYTEA,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::BYTEA,
        Type::INT8,
        Type::INT2,
        Type::INT4,
        Type::INT2,
        Type::BYTEA,
        Type::INT2,
        Type::INT2,
        Type::INT8,
        Type::INT8,
    ];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for record in changes.transfers_created() {
        with_transfer_row(record, slots.link(record), |row| {
            let values: Vec<&(dyn postgres::types::ToSql + Sync)> = row
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            writer.write(&values)
        })?;
    }
    writer.finish()?;
    Ok(())
}
