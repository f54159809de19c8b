//! Checking the books from storage alone: the ledger's tables, read in one snapshot,
//! recomputed from the transfer log by rules written here again (not by the recovery code they
//! check), and compared with what the account rows say.
//!
//! - **Balanced**: per currency, Σ debits = Σ credits, posted and pending, in the account rows
//!   (as of the last balance checkpoint) and in the balances the log gives today.
//! - **Balances equal their transfers**: every account row equals the sum of the successful
//!   transfers and expiries up to the checkpoint the row was written at.
//! - **Constraints hold**: no account with `debits_must_not_exceed_credits` (or the converse)
//!   crosses it in today's balances.
//! - **The log is whole**: every transfer names stored accounts of its currency; every post
//!   or void names a pending transfer before it.
//! - **Nothing is stuck**: no pending transfer is unresolved past its timeout (plus a minute
//!   for the writer's sweep) while the ledger went on writing; with nothing written since (a
//!   stopped server), it is counted as not swept yet instead.
//!
//! Every break is listed by kind (the first [`LISTED_PER_KIND_MAX`] of each with details), and
//! the audit passes only with none. Reads go in pages of [`PAGE_TRANSFERS`] transfers, with a
//! progress callback, so a ledger of millions of transfers is checked in bounded memory (one
//! entry per account and per pending transfer).

use std::collections::{BTreeMap, HashMap};

use cashless_ledger::{AccountFlags, AccountId, Currency, TransferFlags, TransferId};
use serde::Serialize;

use crate::db::{Backend, Conn, DbError, Param};

/// Transfers read per query.
pub const PAGE_TRANSFERS: i64 = 50_000;
/// Breaks of one kind listed in full; the rest are counted.
pub const LISTED_PER_KIND_MAX: usize = 20;
/// How long past its timeout a pending transfer may wait for the writer's expiry sweep.
pub const EXPIRY_GRACE_NS: u64 = 60 * 1_000_000_000;

/// The totals of one currency.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub accounts: u64,
    /// Today's balances, from the log (minor units, as decimal strings: they may exceed i64).
    pub debits_posted: String,
    pub credits_posted: String,
    pub debits_pending: String,
    pub credits_pending: String,
}

/// One kind of break: how many, and the first few.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Breaks {
    pub count: u64,
    pub listed: Vec<String>,
}

/// What the audit found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LedgerAudit {
    pub accounts: u64,
    pub transfers: u64,
    pub expiries: u64,
    /// Pending transfers not yet posted, voided or expired.
    pub pending: u64,
    /// Of those, past their timeout with nothing written since (a stopped server): swept by the
    /// writer when it next runs, so not a break.
    pub expired_unswept: u64,
    /// The ledger timestamp (ns) the account rows were last written at.
    pub checkpoint_ts: u64,
    pub currencies: Vec<CurrencyTotals>,
    /// Breaks by kind: `unbalanced_currency`, `balance_mismatch`, `constraint_crossed`,
    /// `unknown_account`, `currency_mismatch`, `orphan_resolution`, `overdue_pending`.
    pub breaks: BTreeMap<&'static str, Breaks>,
}

impl LedgerAudit {
    pub fn passed(&self) -> bool {
        self.breaks.is_empty()
    }

    fn record(&mut self, kind: &'static str, detail: impl FnOnce() -> String) {
        let breaks = self.breaks.entry(kind).or_default();
        breaks.count += 1;
        if breaks.listed.len() < LISTED_PER_KIND_MAX {
            breaks.listed.push(detail());
        }
    }
}

/// Four balances, wide enough that no sum of the log overflows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    debits_pending: i128,
    debits_posted: i128,
    credits_pending: i128,
    credits_posted: i128,
}

#[derive(Debug)]
struct StoredAccount {
    currency: u16,
    flags: AccountFlags,
    row: Sums,
    /// Up to the checkpoint (to compare with the row), and up to now.
    at_checkpoint: Sums,
    now: Sums,
}

#[derive(Debug)]
struct Pending {
    ts: u64,
    debit: AccountId,
    credit: AccountId,
    amount: i128,
    timeout_secs: u64,
    resolved: bool,
}

/// One movement of balances, at ledger time `ts`.
struct Movement {
    ts: u64,
    debit: AccountId,
    credit: AccountId,
    pending: i128,
    posted: i128,
}

/// Audits the ledger's tables as of one snapshot. `progress(done, total)` is called after each
/// page of transfers.
pub fn audit_ledger(
    conn: &mut Conn,
    now_ns: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<LedgerAudit, DbError> {
    conn.batch_execute(match conn.backend() {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    })?;
    let audit = audit_in_snapshot(conn, now_ns, progress);
    conn.batch_execute("ROLLBACK")?;
    audit
}

fn audit_in_snapshot(
    conn: &mut Conn,
    now_ns: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<LedgerAudit, DbError> {
    let mut audit = LedgerAudit::default();
    let checkpoint = conn
        .query_opt(
            "SELECT value FROM ledger_meta WHERE name = 'balances_ts'",
            &[],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    audit.checkpoint_ts = u64::try_from(checkpoint).unwrap_or(0);
    let mut log = Log {
        accounts: stored_accounts(conn)?,
        pending: HashMap::new(),
        newest_ts: 0,
    };
    audit.accounts = log.accounts.len() as u64;
    read_transfers(conn, &mut audit, &mut log, progress)?;
    expire(conn, &mut audit, &mut log)?;
    find_stuck(&mut audit, &log, now_ns);
    compare(&mut audit, &log.accounts);
    Ok(audit)
}

/// What the audit keeps while it reads the log.
struct Log {
    accounts: HashMap<AccountId, StoredAccount>,
    pending: HashMap<TransferId, Pending>,
    /// The newest ledger timestamp seen (transfers and expiries).
    newest_ts: u64,
}

/// Reads every successful transfer in pages, applying each to its accounts.
fn read_transfers(
    conn: &mut Conn,
    audit: &mut LedgerAudit,
    log: &mut Log,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), DbError> {
    let total = conn
        .query_opt(
            "SELECT COUNT(*) FROM ledger_transfers WHERE result = 0",
            &[],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    let total = u64::try_from(total).unwrap_or(0);
    let mut after = -1i64;
    loop {
        let rows = conn.query(
            "SELECT ts, id, debit_account_id, credit_account_id, amount, pending_id, \
             timeout_secs, currency, flags FROM ledger_transfers \
             WHERE ts > $1 AND result = 0 ORDER BY ts LIMIT $2",
            &[Param::Int(after), Param::Int(PAGE_TRANSFERS)],
        )?;
        for row in &rows {
            after = row.int(0)?;
            audit.transfers += 1;
            let transfer = LoggedTransfer {
                ts: u64::try_from(after).unwrap_or(0),
                id: TransferId(row.u128(1)?),
                debit: AccountId(row.u128(2)?),
                credit: AccountId(row.u128(3)?),
                amount: i128::from(row.int(4)?),
                pending_id: TransferId(row.u128_or_zero(5)?),
                timeout_secs: u64::try_from(row.int(6)?).unwrap_or(0),
                currency: u16::try_from(row.int(7)?).unwrap_or(0),
                flags: TransferFlags(u16::try_from(row.int(8)?).unwrap_or(0)),
            };
            log.newest_ts = log.newest_ts.max(transfer.ts);
            check_accounts(audit, log, &transfer);
            if let Some(movement) = movement_of(audit, log, &transfer) {
                apply(&mut log.accounts, &movement, audit.checkpoint_ts);
            }
        }
        progress(audit.transfers, total.max(audit.transfers));
        if (rows.len() as i64) < PAGE_TRANSFERS {
            return Ok(());
        }
    }
}

/// One row of the log, as the audit reads it.
struct LoggedTransfer {
    ts: u64,
    id: TransferId,
    debit: AccountId,
    credit: AccountId,
    amount: i128,
    pending_id: TransferId,
    timeout_secs: u64,
    currency: u16,
    flags: TransferFlags,
}

/// The transfer names stored accounts of its currency.
fn check_accounts(audit: &mut LedgerAudit, log: &Log, transfer: &LoggedTransfer) {
    let id = transfer.id;
    for account in [transfer.debit, transfer.credit] {
        match log.accounts.get(&account) {
            None => audit.record("unknown_account", || {
                format!("transfer {id} names account {account}, which is not stored")
            }),
            Some(stored) if stored.currency != transfer.currency => {
                audit.record("currency_mismatch", || {
                    format!(
                        "transfer {id} in {} moves account {account}",
                        transfer.currency
                    )
                })
            }
            Some(_) => {}
        }
    }
}

/// What a transfer does to its accounts' balances (none for a resolution that names no
/// pending transfer, which is a break).
fn movement_of(audit: &mut LedgerAudit, log: &mut Log, t: &LoggedTransfer) -> Option<Movement> {
    let (ts, debit, credit) = (t.ts, t.debit, t.credit);
    if t.flags.contains(TransferFlags::PENDING) {
        let pending = Pending {
            ts,
            debit,
            credit,
            amount: t.amount,
            timeout_secs: t.timeout_secs,
            resolved: false,
        };
        log.pending.insert(t.id, pending);
        return Some(Movement {
            ts,
            debit,
            credit,
            pending: t.amount,
            posted: 0,
        });
    }
    if !t.flags.contains(TransferFlags::POST_PENDING)
        && !t.flags.contains(TransferFlags::VOID_PENDING)
    {
        return Some(Movement {
            ts,
            debit,
            credit,
            pending: 0,
            posted: t.amount,
        });
    }
    let Some(reserved) = log.pending.get_mut(&t.pending_id).filter(|p| !p.resolved) else {
        let (id, pending_id) = (t.id, t.pending_id);
        audit.record("orphan_resolution", || {
            format!("transfer {id} resolves {pending_id}, no pending transfer before it")
        });
        return None;
    };
    reserved.resolved = true;
    let posted = if t.flags.contains(TransferFlags::POST_PENDING) {
        t.amount
    } else {
        0
    };
    Some(Movement {
        ts,
        debit,
        credit,
        pending: -reserved.amount,
        posted,
    })
}

/// Pending transfers past their timeout: a break if the ledger moved on past the deadline
/// without expiring them (the writer's sweep missed them); else, with nothing written since,
/// merely not swept yet (a stopped server sweeps them at its next start).
fn find_stuck(audit: &mut LedgerAudit, log: &Log, now_ns: u64) {
    audit.pending = log.pending.values().filter(|p| !p.resolved).count() as u64;
    for (id, stuck) in &log.pending {
        if stuck.resolved || stuck.timeout_secs == 0 {
            continue;
        }
        let deadline = stuck
            .ts
            .saturating_add(stuck.timeout_secs.saturating_mul(1_000_000_000))
            .saturating_add(EXPIRY_GRACE_NS);
        if deadline >= now_ns {
            continue;
        }
        if log.newest_ts > deadline {
            audit.record("overdue_pending", || {
                format!(
                    "pending transfer {id} is past its {} s timeout, and the ledger went on without expiring it",
                    stuck.timeout_secs
                )
            });
        } else {
            audit.expired_unswept += 1;
        }
    }
}

fn stored_accounts(conn: &mut Conn) -> Result<HashMap<AccountId, StoredAccount>, DbError> {
    let mut accounts = HashMap::new();
    for row in conn.query(
        "SELECT id, currency, flags, debits_pending, debits_posted, credits_pending, \
         credits_posted FROM ledger_accounts",
        &[],
    )? {
        accounts.insert(
            AccountId(row.u128(0)?),
            StoredAccount {
                currency: u16::try_from(row.int(1)?).unwrap_or(0),
                flags: AccountFlags(u16::try_from(row.int(2)?).unwrap_or(0)),
                row: Sums {
                    debits_pending: i128::from(row.int(3)?),
                    debits_posted: i128::from(row.int(4)?),
                    credits_pending: i128::from(row.int(5)?),
                    credits_posted: i128::from(row.int(6)?),
                },
                at_checkpoint: Sums::default(),
                now: Sums::default(),
            },
        );
    }
    Ok(accounts)
}

fn apply(accounts: &mut HashMap<AccountId, StoredAccount>, movement: &Movement, checkpoint: u64) {
    let sides = [(movement.debit, true), (movement.credit, false)];
    for (id, debit) in sides {
        let Some(account) = accounts.get_mut(&id) else {
            continue;
        };
        let mut targets = vec![&mut account.now];
        if movement.ts <= checkpoint {
            targets.push(&mut account.at_checkpoint);
        }
        for sums in targets {
            if debit {
                sums.debits_pending += movement.pending;
                sums.debits_posted += movement.posted;
            } else {
                sums.credits_pending += movement.pending;
                sums.credits_posted += movement.posted;
            }
        }
    }
}

/// Releases the pending amounts the writer's sweep expired.
fn expire(conn: &mut Conn, audit: &mut LedgerAudit, log: &mut Log) -> Result<(), DbError> {
    let by_ts: HashMap<u64, TransferId> = log.pending.iter().map(|(id, p)| (p.ts, *id)).collect();
    for row in conn.query(
        "SELECT ts, pending_ts FROM ledger_expiries ORDER BY ts",
        &[],
    )? {
        audit.expiries += 1;
        let ts = u64::try_from(row.int(0)?).unwrap_or(0);
        let pending_ts = u64::try_from(row.int(1)?).unwrap_or(0);
        log.newest_ts = log.newest_ts.max(ts);
        let Some(expired) = by_ts
            .get(&pending_ts)
            .and_then(|id| log.pending.get_mut(id))
            .filter(|p| !p.resolved)
        else {
            audit.record("orphan_resolution", || {
                format!("an expiry at {ts} names no unresolved pending transfer at {pending_ts}")
            });
            continue;
        };
        expired.resolved = true;
        let movement = Movement {
            ts,
            debit: expired.debit,
            credit: expired.credit,
            pending: -expired.amount,
            posted: 0,
        };
        apply(&mut log.accounts, &movement, audit.checkpoint_ts);
    }
    Ok(())
}

/// Compares rows with the log, checks constraints, and sums per currency.
fn compare(audit: &mut LedgerAudit, accounts: &HashMap<AccountId, StoredAccount>) {
    let mut by_currency: BTreeMap<u16, (u64, Sums, Sums)> = BTreeMap::new();
    let mut ids: Vec<&AccountId> = accounts.keys().collect();
    ids.sort();
    for id in ids {
        let account = &accounts[id];
        if account.row != account.at_checkpoint {
            audit.record("balance_mismatch", || {
                format!(
                    "account {id}: its row says {:?}, its transfers {:?}",
                    account.row, account.at_checkpoint
                )
            });
        }
        let now = account.now;
        let crossed = (account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && now.debits_pending + now.debits_posted > now.credits_posted)
            || (account
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                && now.credits_pending + now.credits_posted > now.debits_posted);
        if crossed {
            audit.record("constraint_crossed", || {
                format!("account {id} crosses its limit: {now:?}")
            });
        }
        let totals = by_currency.entry(account.currency).or_default();
        totals.0 += 1;
        for (sum, add) in [(&mut totals.1, &account.row), (&mut totals.2, &now)] {
            sum.debits_pending += add.debits_pending;
            sum.debits_posted += add.debits_posted;
            sum.credits_pending += add.credits_pending;
            sum.credits_posted += add.credits_posted;
        }
    }
    for (numeric, (count, rows, now)) in by_currency {
        let code = Currency::from_numeric(numeric)
            .map_or_else(|| numeric.to_string(), |c| c.code().to_owned());
        for (what, sums) in [("account rows", rows), ("today's balances", now)] {
            if sums.debits_posted != sums.credits_posted
                || sums.debits_pending != sums.credits_pending
            {
                audit.record("unbalanced_currency", || {
                    format!("{code}, {what}: debits and credits differ: {sums:?}")
                });
            }
        }
        audit.currencies.push(CurrencyTotals {
            currency: code,
            accounts: count,
            debits_posted: now.debits_posted.to_string(),
            credits_posted: now.credits_posted.to_string(),
            debits_pending: now.debits_pending.to_string(),
            credits_pending: now.credits_pending.to_string(),
        });
    }
}
