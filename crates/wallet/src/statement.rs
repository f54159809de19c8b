//! What the consumer sees: the profile, the balance, today's limits, and the statement.
//!
//! Daily outflow limits are counted per China day (UTC+8) in `outflows`, updated in the same
//! writer operation as the movement they count, so two payments racing cannot both squeeze
//! under the limit. A failed outflow gives its amount back.

use cashless_consumer::{Date, Limits, rfc3339};
use cashless_ledger::Currency;
use cashless_store::{Conn, DbError, Param};
use serde::Serialize;
use serde_json::json;

use crate::auth::Session;
use crate::users::{self, UserRow, int};
use crate::wire::Amount;
use crate::{ServiceError, ServiceResult, Wallet};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// What can be spent now.
    pub available: Amount,
    /// Top-ups the bank has not confirmed yet.
    pub incoming: Amount,
    /// Withdrawals on their way to a card.
    pub outgoing: Amount,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    #[schema(example = "L1")]
    pub kyc_level: String,
    pub daily: Amount,
    pub single: Amount,
    pub spent_today: Amount,
    pub remaining_today: Amount,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub user_id: String,
    /// The phone number, masked.
    pub phone: String,
    #[schema(example = "L0")]
    pub kyc_level: String,
    pub real_name: Option<String>,
    /// `resident_id` or `passport`.
    pub id_kind: Option<String>,
    pub id_number: Option<String>,
    pub nationality: Option<String>,
    pub pin_set: bool,
    pub pin_locked_until: Option<String>,
    pub balance: Balance,
    pub limits: LimitsView,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatementItem {
    pub id: String,
    /// `top_up`, `withdrawal` (payments, refunds and fares join them).
    pub kind: String,
    /// `processing`, `succeeded` or `failed`.
    pub status: String,
    /// Positive for money in, negative for money out.
    pub amount: Amount,
    pub counterparty: String,
    /// Kind-specific facts: the card amount and FX rate of a foreign top-up, …
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub balance: Balance,
    pub limits: LimitsView,
    /// Newest first.
    pub items: Vec<StatementItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub const STATEMENT_PAGE_MAX: u32 = 100;

fn day_key(now_ns: u64) -> String {
    Date::china_day(now_ns).to_string()
}

fn spent_on(conn: &mut Conn, user_id: &str, day: &str) -> Result<u64, DbError> {
    Ok(conn
        .query_opt(
            "SELECT total FROM outflows WHERE user_id = $1 AND day = $2",
            &[Param::Text(user_id), Param::Text(day)],
        )?
        .map_or(Ok(0), |row| row.int(0))? as u64)
}

/// Counts `amount` against the user's limits, or refuses it with the numbers. Call inside the
/// writer operation that moves the money.
pub(crate) fn reserve_outflow(
    conn: &mut Conn,
    user: &UserRow,
    amount: u64,
    now_ns: u64,
    limits: &Limits,
) -> ServiceResult<()> {
    let day = day_key(now_ns);
    let spent = spent_on(conn, &user.id, &day)?;
    check_limits(user, amount, spent, limits)?;
    let total = spent.saturating_add(amount);
    let updated = conn.execute(
        "UPDATE outflows SET total = $3 WHERE user_id = $1 AND day = $2",
        &[Param::Text(&user.id), Param::Text(&day), int(total)],
    )?;
    if updated == 0 {
        conn.execute(
            "INSERT INTO outflows (user_id, day, total) VALUES ($1, $2, $3)",
            &[Param::Text(&user.id), Param::Text(&day), int(total)],
        )?;
    }
    Ok(())
}

/// Refuses `amount` if it would take the user past a limit, with the numbers.
pub(crate) fn check_limits(
    user: &UserRow,
    amount: u64,
    spent: u64,
    limits: &Limits,
) -> ServiceResult<()> {
    let Err(refused) = limits.check_outflow(user.kyc_level, amount, spent) else {
        return Ok(());
    };
    let cny = |minor| Amount::new(minor, Currency::CNY);
    let details = match refused {
        cashless_consumer::LimitError::NotVerified => {
            json!({ "kyc_level": user.kyc_level.name() })
        }
        cashless_consumer::LimitError::SingleLimit { limit } => {
            json!({ "kyc_level": user.kyc_level.name(), "limit": cny(limit) })
        }
        cashless_consumer::LimitError::DailyLimit { limit, remaining } => json!({
            "kyc_level": user.kyc_level.name(),
            "limit": cny(limit),
            "remaining": cny(remaining),
        }),
    };
    let error = if refused == cashless_consumer::LimitError::NotVerified {
        ServiceError::forbidden(refused.code(), refused.to_string())
    } else {
        ServiceError::unprocessable(refused.code(), refused.to_string())
    };
    Err(error.with_details(details))
}

/// What a user sent on one China day: the row the daily limits and the password-free count
/// read, read once and written once per payment.
#[derive(Clone, Debug)]
pub struct OutflowDay {
    day: String,
    /// Whether the day's row exists yet.
    stored: bool,
    /// Minor units of CNY counted against the daily limit.
    pub total: u64,
    /// Payments made without the PIN.
    pub password_free: u32,
}

impl OutflowDay {
    /// The user's row for the China day of `now_ns` (zeros if none yet).
    pub(crate) fn read(conn: &mut Conn, user_id: &str, now_ns: u64) -> Result<OutflowDay, DbError> {
        let day = day_key(now_ns);
        let row = conn.query_opt(
            "SELECT total, password_free FROM outflows WHERE user_id = $1 AND day = $2",
            &[Param::Text(user_id), Param::Text(&day)],
        )?;
        Ok(match row {
            Some(row) => OutflowDay {
                day,
                stored: true,
                total: row.int(0)?.max(0) as u64,
                password_free: row.int(1)?.clamp(0, i64::from(u32::MAX)) as u32,
            },
            None => OutflowDay {
                day,
                stored: false,
                total: 0,
                password_free: 0,
            },
        })
    }

    /// Writes the day's row with `amount` more sent, one of them without the PIN if
    /// `password_free` says so: one statement.
    pub(crate) fn write(
        &self,
        conn: &mut Conn,
        user_id: &str,
        amount: u64,
        password_free: PinUse,
    ) -> Result<(), DbError> {
        let total = int(self.total.saturating_add(amount));
        let free = i64::from(self.password_free) + i64::from(password_free == PinUse::Without);
        let sql = if self.stored {
            "UPDATE outflows SET total = $3, password_free = $4 WHERE user_id = $1 AND day = $2"
        } else {
            "INSERT INTO outflows (user_id, day, total, password_free) VALUES ($1, $2, $3, $4)"
        };
        conn.write(
            sql,
            &[
                Param::Text(user_id),
                Param::Text(&self.day),
                total,
                Param::Int(free),
            ],
        )
    }
}

/// Whether a payment went with the payer's confirmation (PIN or device) or without.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PinUse {
    Confirmed,
    Without,
}

/// Gives back an outflow that did not happen, on the day it was counted.
pub(crate) fn release_outflow(
    conn: &mut Conn,
    user_id: &str,
    counted_at_ns: u64,
    amount: u64,
) -> Result<(), DbError> {
    let day = day_key(counted_at_ns);
    let spent = spent_on(conn, user_id, &day)?;
    conn.execute(
        "UPDATE outflows SET total = $3 WHERE user_id = $1 AND day = $2",
        &[
            Param::Text(user_id),
            Param::Text(&day),
            int(spent.saturating_sub(amount)),
        ],
    )?;
    Ok(())
}

impl Wallet {
    async fn balance_and_limits(&self, user: &UserRow) -> ServiceResult<(Balance, LimitsView)> {
        let account = self.store.account(user.wallet).await?.ok_or_else(|| {
            ServiceError::internal(format!("wallet account {} missing", user.wallet))
        })?;
        let balances = account.account.balances;
        let available = u64::try_from(balances.credit_balance_available().max(0)).unwrap_or(0);
        let cny = |minor| Amount::new(minor, Currency::CNY);
        let user_id = user.id.clone();
        let today = day_key(crate::now_ns());
        let spent = self
            .store
            .read(move |conn| spent_on(conn, &user_id, &today))
            .await?;
        let limits = &self.config.limits;
        let level = user.kyc_level;
        Ok((
            Balance {
                available: cny(available),
                incoming: cny(balances.credits_pending),
                outgoing: cny(balances.debits_pending),
            },
            LimitsView {
                kyc_level: level.name().to_owned(),
                daily: cny(limits.daily(level)),
                single: cny(limits.single(level)),
                spent_today: cny(spent),
                remaining_today: cny(limits.remaining(level, spent)),
            },
        ))
    }

    /// The signed-in user's row.
    pub(crate) async fn user(&self, session: &Session) -> ServiceResult<UserRow> {
        let user_id = session.user_id.clone();
        self.store
            .read(move |conn| users::by_id(conn, &user_id))
            .await?
            .ok_or_else(ServiceError::unauthorized)
    }

    /// The signed-in user's full phone number (E.164), for the platform's own use: the API
    /// shows it masked.
    pub async fn phone_number(&self, session: &Session) -> ServiceResult<String> {
        Ok(self.user(session).await?.phone)
    }

    pub async fn profile(&self, session: &Session) -> ServiceResult<Profile> {
        let user = self.user(session).await?;
        let (balance, limits) = self.balance_and_limits(&user).await?;
        let now = crate::now_ns();
        let phone = cashless_consumer::Phone::parse(&user.phone)
            .map(|phone| phone.masked())
            .unwrap_or_default();
        Ok(Profile {
            user_id: user.id,
            phone,
            kyc_level: user.kyc_level.name().to_owned(),
            real_name: user.real_name,
            id_kind: user.id_kind,
            id_number: user.id_masked,
            nationality: user.nationality,
            pin_set: user.pin_hash.is_some(),
            pin_locked_until: (user.pin_locked_until_ns > now)
                .then(|| rfc3339(user.pin_locked_until_ns)),
            balance,
            limits,
        })
    }

    /// A page of the statement, newest first. `cursor` is the `next_cursor` of the page before.
    /// The statement, newest first; `kind` keeps one kind of line (`payment`, `refund`,
    /// `top_up`, `withdrawal`, or `transit`: fares and fares given back).
    pub async fn statement(
        &self,
        session: &Session,
        cursor: Option<&str>,
        limit: Option<u32>,
        kind: Option<&str>,
    ) -> ServiceResult<Statement> {
        // The kinds of line one filter keeps (the second is "" when there is only one).
        let (kind, also) = match kind.map(str::trim) {
            None | Some("") => (String::new(), ""),
            Some(kind @ ("payment" | "refund" | "top_up" | "withdrawal")) => (kind.to_owned(), ""),
            Some("transit") => ("transit".to_owned(), "transit_refund"),
            Some(_) => {
                return Err(ServiceError::invalid(
                    "kind_invalid",
                    "kind is payment, refund, top_up, withdrawal or transit",
                ));
            }
        };
        let limit = limit.unwrap_or(20);
        if !(1..=STATEMENT_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit_invalid",
                format!("limit must be 1 to {STATEMENT_PAGE_MAX}"),
            ));
        }
        let cursor = cursor.map(crate::wire::parse_cursor).transpose()?;
        let user = self.user(session).await?;
        let (balance, limits) = self.balance_and_limits(&user).await?;
        let user_id = user.id.clone();
        let rows = self
            .store
            .read(move |conn| {
                const COLUMNS: &str = "SELECT id, kind, status, amount, currency, counterparty, \
                                       details, created_ns, updated_ns FROM activity";
                const FILTER: &str = "user_id = $1 AND ($2 = '' OR kind = $2 OR kind = $6) \
                                      AND (created_ns < $3 OR (created_ns = $3 AND id < $4))";
                const ORDER: &str = "ORDER BY created_ns DESC, id DESC LIMIT $5";
                let page = i64::from(limit) + 1;
                let (before_ns, before_id) = cursor.clone().unwrap_or((i64::MAX, String::new()));
                // Lines the writer has folded are indexed by user; the last tenth of a
                // second's are indexed by time only (migration 0012): a page is the newest of both.
                conn.query(
                    &format!(
                        "SELECT * FROM ({COLUMNS} WHERE folded = 1 AND {FILTER} {ORDER}) AS folded \
                         UNION ALL \
                         SELECT * FROM ({COLUMNS} WHERE folded = 0 AND {FILTER} {ORDER}) AS recent \
                         {ORDER}"
                    ),
                    &[
                        Param::Text(&user_id),
                        Param::Text(&kind),
                        Param::Int(before_ns),
                        Param::Text(&before_id),
                        Param::Int(page),
                        Param::Text(also),
                    ],
                )
            })
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            let currency = row.text(4)?;
            let currency = Currency::from_code(currency)
                .ok_or_else(|| ServiceError::internal(format!("currency {currency}")))?;
            items.push(StatementItem {
                id: row.text(0)?.to_owned(),
                kind: row.text(1)?.to_owned(),
                status: row.text(2)?.to_owned(),
                amount: Amount::signed(i128::from(row.int(3)?), currency),
                counterparty: row.text(5)?.to_owned(),
                details: serde_json::from_str(row.text(6)?).unwrap_or_default(),
                created_at: rfc3339(row.int(7)? as u64),
                updated_at: rfc3339(row.int(8)? as u64),
            });
        }
        let next_cursor = if rows.len() > limit as usize {
            rows.get(limit as usize - 1)
                .map(|row| Ok::<_, DbError>(format!("{}.{}", row.int(7)?, row.text(0)?)))
                .transpose()?
        } else {
            None
        };
        Ok(Statement {
            balance,
            limits,
            items,
            next_cursor,
        })
    }
}
