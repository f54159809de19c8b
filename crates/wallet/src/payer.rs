//! The consumer's side of a payment, for the services that take money from a wallet
//! (merchant payments, later transit and bills). Each function runs inside the caller's
//! writer operation, so the limit counted, the ledger transfer and the statement row commit
//! together with the caller's own rows, or not at all.

use cashless_consumer::{Date, KycLevel};
use cashless_ledger::{AccountId, Currency, Money};
use cashless_store::{Conn, DbError, Param, WriteTx};
use serde_json::json;

pub use crate::statement::{OutflowDay, PinUse};
use crate::statement::{check_limits, release_outflow};
use crate::users::{self, UserRow, int};
use crate::wire::Amount;
use crate::{ServiceError, ServiceResult, WalletConfig};

/// A signed-in consumer about to pay.
#[derive(Clone, Debug)]
pub struct Payer(UserRow);

impl Payer {
    pub fn user_id(&self) -> &str {
        &self.0.id
    }

    pub fn wallet(&self) -> AccountId {
        self.0.wallet
    }

    pub fn kyc_level(&self) -> KycLevel {
        self.0.kyc_level
    }

    /// Whether the payer chose a card for payments the balance cannot cover.
    pub fn has_payment_card(&self) -> bool {
        self.0.fallback_card_id.is_some()
    }

    pub fn pin_set(&self) -> bool {
        self.0.pin_hash.is_some()
    }

    /// The name a merchant may see: the real name masked to its last character (`*娜`).
    pub fn masked_name(&self) -> String {
        match &self.0.real_name {
            Some(name) => {
                let chars: Vec<char> = name.chars().collect();
                let last = chars.last().copied().unwrap_or('*');
                format!("{}{last}", "*".repeat(chars.len().saturating_sub(1).max(1)))
            }
            None => "*".to_owned(),
        }
    }
}

/// The payer, or `unauthorized` if the account is gone.
pub fn payer(conn: &mut Conn, user_id: &str) -> ServiceResult<Payer> {
    users::require(conn, user_id).map(Payer)
}

/// [`payer`] inside a writer operation, through the writer's row cache (see
/// [`WriteTx::cached`]).
pub fn payer_in(tx: &mut WriteTx<'_, '_>, user_id: &str) -> ServiceResult<Payer> {
    tx.cached("users", user_id, |conn| users::by_id(conn, user_id))?
        .map(Payer)
        .ok_or_else(ServiceError::unauthorized)
}

/// The payer's outflow row for today: read before a payment's checks, written after them
/// (see [`check_outflow`] and [`OutflowDay::write`]).
pub fn outflow_today(conn: &mut Conn, payer: &Payer, now_ns: u64) -> Result<OutflowDay, DbError> {
    OutflowDay::read(conn, &payer.0.id, now_ns)
}

/// Refuses `amount` if it would take the payer past a KYC limit today, with the numbers.
/// Writes nothing: count it with [`count_payment`] once every other check passed.
pub fn check_outflow(
    payer: &Payer,
    amount: Money,
    today: &OutflowDay,
    config: &WalletConfig,
) -> ServiceResult<()> {
    let amount = outflow(amount)?;
    check_limits(&payer.0, amount, today.total, &config.limits)
}

/// Counts a payment of `amount` in the payer's day: one write.
pub fn count_payment(
    conn: &mut Conn,
    payer: &Payer,
    today: &OutflowDay,
    amount: Money,
    pin: PinUse,
) -> ServiceResult<()> {
    let amount = outflow(amount)?;
    Ok(today.write(conn, &payer.0.id, amount, pin)?)
}

/// The minor units a payment takes out of the wallet: CNY (the limits are in CNY), positive.
fn outflow(amount: Money) -> ServiceResult<u64> {
    if amount.currency() != Currency::CNY {
        return Err(ServiceError::internal(format!(
            "an outflow in {}: the wallet's limits are in CNY",
            amount.currency()
        )));
    }
    amount
        .unsigned()
        .map_err(cashless_kernel::wire::money_fault)
}

/// Gives back an outflow counted at `counted_at_ns` that did not happen.
pub fn release(
    conn: &mut Conn,
    user_id: &str,
    counted_at_ns: u64,
    amount: u64,
) -> Result<(), DbError> {
    release_outflow(conn, user_id, counted_at_ns, amount)
}

/// Password-free payments the user made on the China day of `now_ns`.
pub fn password_free_today(conn: &mut Conn, user_id: &str, now_ns: u64) -> Result<u32, DbError> {
    let day = Date::china_day(now_ns).to_string();
    let row = conn.query_opt(
        "SELECT password_free FROM outflows WHERE user_id = $1 AND day = $2",
        &[Param::Text(user_id), Param::Text(&day)],
    )?;
    Ok(row
        .map_or(Ok(0), |row| row.int(0))?
        .clamp(0, i64::from(u32::MAX)) as u32)
}

/// The refusal for a payment the balance cannot cover, with what is available.
pub fn insufficient_balance(tx: &WriteTx<'_, '_>, wallet: AccountId) -> ServiceError {
    let available = tx.account(wallet).map_or(0, |account| {
        account.balances.credit_balance_available().max(0)
    });
    let available = u64::try_from(available).unwrap_or(0);
    ServiceError::unprocessable(
        "insufficient_balance",
        format!(
            "the balance is not enough: {} CNY available",
            cashless_ledger::format_amount(available, Currency::CNY)
        ),
    )
    .with_details(json!({ "available": Amount::new(available, Currency::CNY) }))
}

/// A line of the consumer's statement.
#[derive(Clone, Debug)]
pub struct Activity<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    /// `payment`, `refund`, …
    pub kind: &'a str,
    /// `processing`, `succeeded` or `failed`.
    pub status: &'a str,
    /// Positive for money in, negative for money out.
    pub amount: Money,
    pub counterparty: &'a str,
    pub details: serde_json::Value,
}

pub fn record_activity(
    conn: &mut Conn,
    activity: &Activity<'_>,
    now_ns: u64,
) -> Result<(), DbError> {
    conn.write(
        "INSERT INTO activity (id, user_id, kind, status, amount, currency, counterparty, details, \
         created_ns, updated_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            Param::Text(activity.id),
            Param::Text(activity.user_id),
            Param::Text(activity.kind),
            Param::Text(activity.status),
            Param::money(activity.amount),
            Param::Text(activity.amount.currency().code()),
            Param::Text(activity.counterparty),
            Param::Text(&activity.details.to_string()),
            int(now_ns),
        ],
    )?;
    Ok(())
}

/// Replaces a statement line's details (what the line says about its movement).
pub fn set_activity_details(
    conn: &mut Conn,
    id: &str,
    details: &serde_json::Value,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE activity SET details = $2 WHERE id = $1",
        &[Param::Text(id), Param::Text(&details.to_string())],
    )?;
    Ok(())
}

/// Sets a statement line's amount and status before money moved (a fare repriced).
pub fn reprice_activity(
    conn: &mut Conn,
    id: &str,
    amount: Money,
    status: &str,
    now_ns: u64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE activity SET amount = $2, status = $3, updated_ns = $4 WHERE id = $1",
        &[
            Param::Text(id),
            Param::money(amount),
            Param::Text(status),
            int(now_ns),
        ],
    )?;
    Ok(())
}

/// Moves a statement line to `status` (a payment confirmed or abandoned).
pub fn set_activity_status(
    conn: &mut Conn,
    id: &str,
    status: &str,
    now_ns: u64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE activity SET status = $2, updated_ns = $3 WHERE id = $1",
        &[Param::Text(id), Param::Text(status), int(now_ns)],
    )?;
    Ok(())
}

/// What an earlier request with the consumer's Idempotency-Key made (its resource id), if any;
/// an error if that request asked for something else (a different `fingerprint`). For readers
/// outside the writer; [`replayed_in`] in a write operation.
pub fn replayed(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> ServiceResult<Option<String>> {
    crate::idempotency::replayed(
        crate::idempotency::idempotency_record(conn, user_id, key)?,
        fingerprint,
    )
}

/// [`replayed`] in a write operation: sees this batch's records too.
pub fn replayed_in(
    tx: &mut WriteTx<'_, '_>,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> ServiceResult<Option<String>> {
    crate::idempotency::replayed(
        crate::idempotency::idempotency_record_in(tx, user_id, key)?,
        fingerprint,
    )
}

/// Remembers that the consumer's `key` made `resource_id`; the operation looked the key up
/// first ([`replayed_in`]) and found nothing.
pub fn remember(
    tx: &mut WriteTx<'_, '_>,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    resource_id: &str,
) -> Result<(), DbError> {
    tx.remember_idempotency(
        user_id,
        key,
        cashless_store::IdempotencyRecord {
            fingerprint: fingerprint.to_owned(),
            resource_id: resource_id.to_owned(),
        },
    )
}
