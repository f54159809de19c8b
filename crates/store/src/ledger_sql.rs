//! The ledger's tables: encoding rows, rebuilding the in-memory ledger at start-up, writing a
//! batch's changes (a fast path per backend), and reading accounts and transfers back.

use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, Balances, Changes, ColdStore,
    CreateTransferResult, Currency, IdMap, Ledger, LedgerConfig, PendingStatus, Transfer,
    TransferFlags, TransferId, TransferRecord,
};
use postgres::types::Type;

use crate::db::{Conn, DbError, Param, Row};

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

/// The in-memory ledger and account heads, rebuilt from the database.
pub(crate) struct Recovered {
    pub ledger: Ledger,
    pub heads: IdMap<AccountId, u64>,
}

/// Rebuilds memory from storage: every account, every unresolved pending transfer, and the
/// newest `transfers_cached_max` transfers by id (setting the watermark below them).
pub(crate) fn recover(conn: &mut Conn, config: LedgerConfig) -> Result<Recovered, DbError> {
    let mut ledger = Ledger::new(config);
    let mut heads = IdMap::default();
    for row in conn.query(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts"),
        &[],
    )? {
        let AccountRow { account, head } = decode_account(&row)?;
        heads.insert(account.id, head);
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
    let newest = conn
        .query_opt("SELECT MAX(ts) FROM ledger_transfers", &[])?
        .map(|row| row.opt_int(0))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    ledger.restore_finish(watermark, ns(newest)?);
    Ok(Recovered { ledger, heads })
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

pub(crate) fn account_by_id(conn: &mut Conn, id: AccountId) -> Result<Option<AccountRow>, DbError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1");
    conn.query_opt(&sql, &[Param::Blob(&id.to_bytes())])?
        .as_ref()
        .map(decode_account)
        .transpose()
}

/// Up to `limit` transfers of `account`, newest first, starting at the transfer with
/// timestamp `start` (the account's head for the first page): a walk down the linked list.
pub(crate) fn account_transfers(
    conn: &mut Conn,
    account: AccountId,
    start: u64,
    limit: u32,
) -> Result<Vec<TransferRow>, DbError> {
    let columns = TRANSFER_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH RECURSIVE chain(ts, n) AS (
             SELECT CAST($2 AS BIGINT), 1
             UNION ALL
             SELECT CASE WHEN t.debit_account_id = $1 THEN t.debit_prev ELSE t.credit_prev END,
                    chain.n + 1
             FROM chain JOIN ledger_transfers t ON t.ts = chain.ts
             WHERE chain.n < $3
         )
         SELECT {columns} FROM chain JOIN ledger_transfers t ON t.ts = chain.ts
         ORDER BY t.ts DESC"
    );
    let params = [
        Param::Blob(&account.to_bytes()),
        Param::Int(start as i64),
        Param::Int(limit.into()),
    ];
    conn.query(&sql, &params)?
        .iter()
        .map(decode_transfer)
        .collect()
}

/// Links new transfers into their accounts' lists, updating each account's head in place and
/// remembering the old heads so a failed commit can put them back.
pub(crate) struct HeadLinks<'a> {
    heads: &'a mut IdMap<AccountId, u64>,
    undo: Vec<(AccountId, u64)>,
}

impl<'a> HeadLinks<'a> {
    pub fn new(heads: &'a mut IdMap<AccountId, u64>) -> HeadLinks<'a> {
        HeadLinks {
            heads,
            undo: Vec::new(),
        }
    }

    fn get(&self, id: AccountId) -> u64 {
        self.heads.get(&id).copied().unwrap_or(0)
    }

    /// Links a new transfer into both accounts' lists; returns (debit_prev, credit_prev).
    fn link(&mut self, record: &TransferRecord) -> (u64, u64) {
        if record.result != CreateTransferResult::Ok {
            return (0, 0);
        }
        let t = &record.transfer;
        let debit_prev = self.replace(t.debit_account_id, t.timestamp);
        let credit_prev = self.replace(t.credit_account_id, t.timestamp);
        (debit_prev, credit_prev)
    }

    fn replace(&mut self, id: AccountId, head: u64) -> u64 {
        let slot = self.heads.entry(id).or_insert(0);
        let previous = std::mem::replace(slot, head);
        self.undo.push((id, previous));
        previous
    }

    /// The batch did not commit: restore the heads as they were.
    pub fn rollback(self) {
        for (id, previous) in self.undo.into_iter().rev() {
            self.heads.insert(id, previous);
        }
    }
}

/// Writes a batch's changes inside the open transaction.
pub(crate) fn persist(
    conn: &mut Conn,
    changes: &Changes<'_>,
    heads: &mut HeadLinks<'_>,
) -> Result<(), DbError> {
    match conn {
        Conn::Sqlite(connection) => persist_sqlite(connection, changes, heads),
        Conn::Postgres(pg) => persist_postgres(pg.client(), changes, heads),
    }
}

/// Rows per multi-row statement: one statement binds and steps many rows, which SQLite runs
/// markedly faster than one statement per row. 64 × 15 parameters stays far below SQLite's
/// 32,766-parameter limit.
const SQLITE_ROWS_PER_STATEMENT: usize = 64;

const TRANSFER_INSERT: &str = "INSERT INTO ledger_transfers (ts, id, debit_account_id, \
    credit_account_id, amount, pending_id, timeout_secs, currency, code, flags, reference, result, \
    pending_status, debit_prev, credit_prev) VALUES ";

const ACCOUNT_UPSERT: &str = "INSERT INTO ledger_accounts (id, currency, kind, flags, \
    debits_pending, debits_posted, credits_pending, credits_posted, reference, ts, head) VALUES ";

const ACCOUNT_UPSERT_CONFLICT: &str = " ON CONFLICT (id) DO UPDATE SET \
    debits_pending = excluded.debits_pending, debits_posted = excluded.debits_posted, \
    credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted, \
    head = excluded.head";

/// `prefix` followed by `rows` groups of `columns` placeholders, then `suffix`.
fn multi_row_sql(prefix: &str, columns: usize, rows: usize, suffix: &str) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    format!("{prefix}{}{suffix}", vec![group; rows].join(", "))
}

/// Binds rows into cached multi-row statements: full chunks use one statement, the rest
/// another with exactly as many rows.
fn sqlite_insert_rows<const COLUMNS: usize>(
    connection: &rusqlite::Connection,
    prefix: &str,
    suffix: &str,
    rows: &[[rusqlite::types::Value; COLUMNS]],
) -> Result<(), DbError> {
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let sql = multi_row_sql(prefix, COLUMNS, chunk.len(), suffix);
        let mut statement = connection.prepare_cached(&sql)?;
        for (index, value) in chunk.iter().flatten().enumerate() {
            statement.raw_bind_parameter(index + 1, value)?;
        }
        statement.raw_execute()?;
    }
    Ok(())
}

fn sqlite_transfer_row(record: &TransferRecord, links: (u64, u64)) -> [rusqlite::types::Value; 15] {
    use rusqlite::types::Value as V;
    let t = &record.transfer;
    let id = |value: u128| V::Blob(value.to_be_bytes().to_vec());
    let optional_id = |value: u128| if value == 0 { V::Null } else { id(value) };
    [
        V::Integer(t.timestamp as i64),
        id(t.id.0),
        id(t.debit_account_id.0),
        id(t.credit_account_id.0),
        V::Integer(t.amount as i64),
        optional_id(t.pending_id.0),
        V::Integer(t.timeout_secs.into()),
        V::Integer(t.currency.numeric().into()),
        V::Integer(t.code.into()),
        V::Integer(t.flags.0.into()),
        optional_id(t.reference),
        V::Integer(record.result.as_u16().into()),
        V::Integer(record.pending_status.as_u8().into()),
        V::Integer(links.0 as i64),
        V::Integer(links.1 as i64),
    ]
}

fn sqlite_account_row(account: &Account, head: u64) -> [rusqlite::types::Value; 11] {
    use rusqlite::types::Value as V;
    let b = &account.balances;
    [
        V::Blob(account.id.to_bytes().to_vec()),
        V::Integer(account.currency.numeric().into()),
        V::Integer(account.kind.as_u16().into()),
        V::Integer(account.flags.0.into()),
        V::Integer(b.debits_pending as i64),
        V::Integer(b.debits_posted as i64),
        V::Integer(b.credits_pending as i64),
        V::Integer(b.credits_posted as i64),
        opt_u128(account.reference).map_or(V::Null, |r| V::Blob(r.to_vec())),
        V::Integer(account.timestamp as i64),
        V::Integer(head as i64),
    ]
}

fn persist_sqlite(
    connection: &rusqlite::Connection,
    changes: &Changes<'_>,
    heads: &mut HeadLinks<'_>,
) -> Result<(), DbError> {
    let transfers: Vec<[rusqlite::types::Value; 15]> = changes
        .transfers_created()
        .map(|record| {
            let links = heads.link(record);
            sqlite_transfer_row(record, links)
        })
        .collect();
    sqlite_insert_rows(connection, TRANSFER_INSERT, "", &transfers)?;
    // New and changed accounts alike: one upsert writes both.
    let accounts: Vec<[rusqlite::types::Value; 11]> = changes
        .accounts_created()
        .chain(changes.accounts_updated())
        .map(|account| sqlite_account_row(account, heads.get(account.id)))
        .collect();
    sqlite_insert_rows(
        connection,
        ACCOUNT_UPSERT,
        ACCOUNT_UPSERT_CONFLICT,
        &accounts,
    )?;
    let mut resolve = connection
        .prepare_cached("UPDATE ledger_transfers SET pending_status = ?2 WHERE ts = ?1")?;
    for record in changes.pending_resolved() {
        resolve.execute(rusqlite::params![
            record.transfer.timestamp as i64,
            i64::from(record.pending_status.as_u8())
        ])?;
    }
    Ok(())
}

fn persist_postgres(
    client: &mut postgres::Client,
    changes: &Changes<'_>,
    heads: &mut HeadLinks<'_>,
) -> Result<(), DbError> {
    if changes.transfers_created_count() > 0 {
        copy_transfers(client, changes, heads)?;
    }
    let created: Vec<&Account> = changes.accounts_created().collect();
    if !created.is_empty() {
        let ids: Vec<Vec<u8>> = created.iter().map(|a| a.id.to_bytes().to_vec()).collect();
        let currencies: Vec<i16> = created
            .iter()
            .map(|a| a.currency.numeric() as i16)
            .collect();
        let kinds: Vec<i16> = created.iter().map(|a| a.kind.as_u16() as i16).collect();
        let flags: Vec<i16> = created.iter().map(|a| a.flags.0 as i16).collect();
        let balances = balance_columns(&created);
        let references: Vec<Option<Vec<u8>>> = created
            .iter()
            .map(|a| opt_u128(a.reference).map(|r| r.to_vec()))
            .collect();
        let timestamps: Vec<i64> = created.iter().map(|a| a.timestamp as i64).collect();
        let account_heads: Vec<i64> = created.iter().map(|a| heads.get(a.id) as i64).collect();
        client.execute(
            "INSERT INTO ledger_accounts (id, currency, kind, flags, debits_pending, debits_posted, \
             credits_pending, credits_posted, reference, ts, head) \
             SELECT * FROM unnest($1::bytea[], $2::int2[], $3::int2[], $4::int2[], $5::int8[], \
             $6::int8[], $7::int8[], $8::int8[], $9::bytea[], $10::int8[], $11::int8[])",
            &[
                &ids, &currencies, &kinds, &flags, &balances[0], &balances[1], &balances[2],
                &balances[3], &references, &timestamps, &account_heads,
            ],
        )?;
    }
    let updated = changes.accounts_updated();
    if !updated.is_empty() {
        let ids: Vec<Vec<u8>> = updated.iter().map(|a| a.id.to_bytes().to_vec()).collect();
        let balances = balance_columns(&updated);
        let account_heads: Vec<i64> = updated.iter().map(|a| heads.get(a.id) as i64).collect();
        let changed = client.execute(
            "UPDATE ledger_accounts AS a SET debits_pending = u.dp, debits_posted = u.dpo, \
             credits_pending = u.cp, credits_posted = u.cpo, head = u.head \
             FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
             AS u(id, dp, dpo, cp, cpo, head) WHERE a.id = u.id",
            &[
                &ids,
                &balances[0],
                &balances[1],
                &balances[2],
                &balances[3],
                &account_heads,
            ],
        )?;
        if changed != updated.len() as u64 {
            return Err(DbError::decode("an updated account is not stored"));
        }
    }
    let resolved: Vec<&TransferRecord> = changes.pending_resolved().collect();
    if !resolved.is_empty() {
        let timestamps: Vec<i64> = resolved
            .iter()
            .map(|r| r.transfer.timestamp as i64)
            .collect();
        let statuses: Vec<i16> = resolved
            .iter()
            .map(|r| i16::from(r.pending_status.as_u8()))
            .collect();
        client.execute(
            "UPDATE ledger_transfers AS t SET pending_status = u.s \
             FROM unnest($1::int8[], $2::int2[]) AS u(ts, s) WHERE t.ts = u.ts",
            &[&timestamps, &statuses],
        )?;
    }
    Ok(())
}

fn balance_columns(accounts: &[&Account]) -> [Vec<i64>; 4] {
    [
        accounts
            .iter()
            .map(|a| a.balances.debits_pending as i64)
            .collect(),
        accounts
            .iter()
            .map(|a| a.balances.debits_posted as i64)
            .collect(),
        accounts
            .iter()
            .map(|a| a.balances.credits_pending as i64)
            .collect(),
        accounts
            .iter()
            .map(|a| a.balances.credits_posted as i64)
            .collect(),
    ]
}

/// Binary COPY: the fastest way into PostgreSQL, one round trip for the whole batch.
fn copy_transfers(
    client: &mut postgres::Client,
    changes: &Changes<'_>,
    heads: &mut HeadLinks<'_>,
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
        let (debit_prev, credit_prev) = heads.link(record);
        let t = &record.transfer;
        let (id, debit, credit) = (
            t.id.to_bytes(),
            t.debit_account_id.to_bytes(),
            t.credit_account_id.to_bytes(),
        );
        let pending = opt_u128(t.pending_id.0);
        let reference = opt_u128(t.reference);
        let row = [
            Param::Int(t.timestamp as i64),
            Param::Blob(&id),
            Param::Blob(&debit),
            Param::Blob(&credit),
            Param::Int(t.amount as i64),
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
        let values: Vec<&(dyn postgres::types::ToSql + Sync)> = row
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        writer.write(&values)?;
    }
    writer.finish()?;
    Ok(())
}
