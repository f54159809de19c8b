//! What a merchant looks back at: its orders (filtered, searched, newest first) and a day's
//! takings, in China days.

use cashless_consumer::Date;
use cashless_kernel::wire::{self, Amount};
use cashless_kernel::{ServiceError, ServiceResult};
use cashless_ledger::Currency;
use cashless_store::{DbError, Param};
use serde::Serialize;

use crate::Payments;
use crate::merchants::{self, MerchantCaller};
use crate::order::{self, OrderStatus, OrderView};
use crate::orders;

pub const ORDERS_PAGE_MAX: u32 = 100;

/// Which orders to list.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    /// `WAIT_BUYER_PAY`, `USERPAYING`, `SUCCESS`, `CLOSED` or `FINISHED`.
    pub status: Option<String>,
    /// A China day, `YYYY-MM-DD`: orders created that day.
    pub day: Option<String>,
    /// The start of an `out_trade_no`.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

/// One China day's money for a merchant.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Takings {
    #[schema(example = "2026-11-24")]
    pub day: String,
    /// Orders paid that day, and what they brought.
    pub paid_orders: u64,
    pub gross: Amount,
    /// Refunds made that day (of any day's orders).
    pub refund_count: u64,
    pub refunds: Amount,
    /// The platform's fee on that day's payments, less what refunds gave back.
    pub fees: Amount,
    /// What the day adds to the merchant's account: gross − refunds − fees.
    pub net: Amount,
}

fn day_range(day: Option<&str>) -> ServiceResult<(Date, u64, u64)> {
    let invalid = || {
        ServiceError::invalid(
            "day_invalid",
            "day is a date like 2026-11-24, from 1970 to 2200",
        )
    };
    let day = match day {
        None => Date::china_day(cashless_kernel::now_ns()),
        Some(text) => Date::parse_iso(text.trim())
            .filter(|day| (1970..=2200).contains(&day.year()))
            .ok_or_else(invalid)?,
    };
    let start = day.china_start_ns().ok_or_else(invalid)?;
    Ok((day, start, start + 86_400 * 1_000_000_000))
}

impl Payments {
    /// The caller's orders, newest first.
    pub async fn list_orders(
        &self,
        mut caller: MerchantCaller,
        filter: OrderFilter,
    ) -> ServiceResult<OrderPage> {
        self.claim_nonce(&mut caller).await?;
        let limit = filter.limit.unwrap_or(20);
        if !(1..=ORDERS_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit_invalid",
                format!("limit must be 1 to {ORDERS_PAGE_MAX}"),
            ));
        }
        let status = match filter.status.as_deref() {
            None | Some("") => String::new(),
            Some(name) => OrderStatus::from_name(name)
                .map(|status| status.name().to_owned())
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "status_invalid",
                        "status is WAIT_BUYER_PAY, USERPAYING, SUCCESS, CLOSED or FINISHED",
                    )
                })?,
        };
        let (from, to) = match filter.day.as_deref() {
            None | Some("") => (0, u64::MAX / 2),
            Some(day) => {
                let (_, from, to) = day_range(Some(day))?;
                (from, to)
            }
        };
        let q = filter.q.as_deref().map(str::trim).unwrap_or_default();
        if q.chars().count() > orders::OUT_TRADE_NO_CHARS_MAX {
            return Err(ServiceError::invalid(
                "q_invalid",
                "q is at most 64 characters",
            ));
        }
        // A prefix compared as text: the same on both databases (LIKE ignores case on
        // SQLite and not on PostgreSQL).
        let pattern = q.to_owned();
        let prefix_chars = q.chars().count() as i64;
        let (before_ns, before_id) = match filter.cursor.as_deref() {
            Some(cursor) => wire::parse_cursor(cursor)?,
            None => (i64::MAX, String::new()),
        };
        let merchant_id = caller.merchant_id.clone();
        let (rows, merchant) = self
            .store
            .read(move |conn| {
                // Orders the writer has folded are indexed by merchant; the last tenth of a
                // second's by time only (migration 0014): a page is the newest of both. The
                // recent ones' merchant is compared as an expression so that no index on the
                // merchant's orders (`orders_by_out_trade_no`) is walked instead.
                let filter = "AND ($2 = '' OR status = $2) AND created_ns >= $3 AND created_ns < $4 \
                     AND ($5 = '' OR substr(out_trade_no, 1, $9) = $5) \
                     AND (created_ns < $6 OR (created_ns = $6 AND id < $7))";
                let order = "ORDER BY created_ns DESC, id DESC LIMIT $8";
                let sql = format!(
                    "SELECT * FROM (SELECT {columns} FROM orders \
                     WHERE folded = 1 AND merchant_id = $1 {filter} {order}) AS folded \
                     UNION ALL \
                     SELECT * FROM (SELECT {columns} FROM orders \
                     WHERE folded = 0 AND (merchant_id || '') = $1 {filter} {order}) AS recent \
                     {order}",
                    columns = order::COLUMNS
                );
                let rows = conn.query(
                    &sql,
                    &[
                        Param::Text(&merchant_id),
                        Param::Text(&status),
                        Param::Int(from as i64),
                        Param::Int(to as i64),
                        Param::Text(&pattern),
                        Param::Int(before_ns),
                        Param::Text(&before_id),
                        Param::Int(i64::from(limit) + 1),
                        Param::Int(prefix_chars),
                    ],
                )?;
                let mut rows = rows
                    .iter()
                    .map(order::decode)
                    .collect::<Result<Vec<_>, DbError>>()?;
                for order in &mut rows {
                    order.payer_name = order::payer_name(conn, order)?;
                }
                Ok((rows, merchants::load(conn, &merchant_id)?))
            })
            .await?;
        let merchant = merchant.ok_or_else(merchants::merchant_not_found)?;
        let next_cursor = (rows.len() > limit as usize)
            .then(|| rows.get(limit as usize - 1))
            .flatten()
            .map(|order| format!("{}.{}", order.created_ns, order.id));
        Ok(OrderPage {
            orders: rows
                .iter()
                .take(limit as usize)
                .map(|order| order.view(Some(&merchant)))
                .collect(),
            next_cursor,
        })
    }

    /// One China day's takings (today by default).
    pub async fn takings(
        &self,
        mut caller: MerchantCaller,
        day: Option<&str>,
    ) -> ServiceResult<Takings> {
        self.claim_nonce(&mut caller).await?;
        let (day, from, to) = day_range(day)?;
        let merchant_id = caller.merchant_id.clone();
        let (paid, refunded) = self
            .store
            .read(move |conn| {
                let range = [
                    Param::Text(&merchant_id),
                    Param::Int(from as i64),
                    Param::Int(to as i64),
                ];
                // An order's `fee` is what it still holds after its refunds: the fee charged
                // that day is that plus what refunds (on any day) gave back.
                // Folded orders by their per-merchant index, the last tenth of a second's by
                // time (migration 0014; the merchant compared as an expression, as in the
                // order list).
                let paid = conn.query_opt(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(o.amount), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(o.fee + COALESCE((SELECT SUM(r.fee_returned) FROM refunds r \
                     WHERE r.order_id = o.id), 0)), 0) AS BIGINT) FROM ( \
                     SELECT id, amount, fee FROM orders WHERE folded = 1 \
                     AND merchant_id = $1 AND paid_ns >= $2 AND paid_ns < $3 \
                     UNION ALL \
                     SELECT id, amount, fee FROM orders WHERE folded = 0 \
                     AND (merchant_id || '') = $1 AND paid_ns >= $2 AND paid_ns < $3) AS o",
                    &range,
                )?;
                let refunded = conn.query_opt(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(fee_returned), 0) AS BIGINT) FROM refunds \
                     WHERE merchant_id = $1 AND created_ns >= $2 AND created_ns < $3",
                    &range,
                )?;
                let three = |row: Option<cashless_store::Row>| -> Result<[i64; 3], DbError> {
                    match row {
                        Some(row) => Ok([row.int(0)?, row.int(1)?, row.int(2)?]),
                        None => Ok([0; 3]),
                    }
                };
                Ok((three(paid)?, three(refunded)?))
            })
            .await?;
        let [paid_orders, gross, fees] = paid;
        let [refund_count, refunds, fees_returned] = refunded;
        let cny = |minor: i64| Amount::signed(i128::from(minor), Currency::CNY);
        let fees_net = fees - fees_returned;
        Ok(Takings {
            day: day.to_string(),
            paid_orders: paid_orders as u64,
            gross: cny(gross),
            refund_count: refund_count as u64,
            refunds: cny(refunds),
            fees: cny(fees_net),
            net: cny(gross - refunds - fees_net),
        })
    }
}
