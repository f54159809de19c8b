//! Notifications: a transactional outbox and the dispatcher that empties it; and the sweeper
//! that closes expired orders and finishes old ones.
//!
//! Every order change writes its event row in the same writer operation as the change, so an
//! event exists if and only if the change committed. The dispatcher POSTs each due event to
//! the merchant's `notify_url`, signed by the platform (see [`crate::signing`]), and counts it
//! delivered only on a 2xx answer whose body is `success`. Otherwise it retries after the
//! configured backoff — by default Alipay's: at once, then 4m, 10m, 10m, 1h, 2h, 6h, 15h —
//! and then gives up (the merchant can still read every event at `GET /v1/merchant/events`).
//!
//! An event is leased before delivery (its next attempt moved past the delivery timeout), so a
//! crash mid-delivery only delays it: delivery is at least once, always with the same event
//! id, which merchants use to drop duplicates.

use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_store::{Conn, DbError, Param};
use serde::Serialize;
use serde_json::{Value, json};

use crate::merchants::{self, MerchantCaller, MerchantRow};
use crate::orders::{self, OrderRow, OrderStatus};
use crate::{Payments, duration_ns, id_string};

/// Events the dispatcher takes per round, and how many it delivers at once.
pub const DISPATCH_BATCH_MAX: i64 = 64;
pub const DISPATCH_CONCURRENCY_MAX: usize = 16;
/// Orders the sweeper closes or finishes per round.
pub const SWEEP_BATCH_MAX: i64 = 256;
pub const EVENTS_PAGE_MAX: u32 = 100;

/// A UUIDv7 for `now_ns` (the writer's clock): new rows append to the end of the id's index
/// instead of dirtying a random page.
fn time_ordered_id(now_ns: u64) -> u128 {
    cashless_ledger::TimeOrderedIds::new().next(now_ns / 1_000_000, rand::random())
}

/// The JSON body of a notification, written straight to text (no intermediate JSON tree: it
/// is built inside the writer, once per order change).
#[derive(Serialize)]
struct EventBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    merchant_id: &'a str,
    data: EventData,
}

#[derive(Serialize)]
struct EventData {
    order: orders::OrderView,
    #[serde(flatten)]
    details: serde_json::Map<String, Value>,
}

/// Writes the event describing an order change. Call in the writer operation of the change.
pub(crate) fn enqueue(
    conn: &mut Conn,
    merchant: &MerchantRow,
    order: &OrderRow,
    kind: &str,
    details: Value,
    now: u64,
) -> ServiceResult<()> {
    let id = id_string(time_ordered_id(now));
    let details = match details {
        Value::Object(details) => details,
        _ => serde_json::Map::new(),
    };
    let payload = serde_json::to_string(&EventBody {
        id: &id,
        kind,
        created_at: rfc3339(now),
        merchant_id: &merchant.id,
        data: EventData {
            order: order.view(None),
            details,
        },
    })
    .map_err(|error| ServiceError::internal(format!("cannot write an event: {error}")))?;
    let next = merchant.notify_url.as_ref().map(|_| now as i64);
    conn.write(
        "INSERT INTO events (id, merchant_id, order_id, kind, payload, created_ns, attempts, next_attempt_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        &[
            Param::Text(&id),
            Param::Text(&merchant.id),
            Param::Text(&order.id),
            Param::Text(kind),
            Param::Text(&payload),
            Param::Int(now as i64),
            next.map_or(Param::Null, Param::Int),
        ],
    )?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
    /// `order.paid`, `order.refunded`, `order.closed` or `order.finished`.
    #[serde(rename = "type")]
    pub kind: String,
    pub order_id: String,
    pub created_at: String,
    /// `pending`, `delivered`, `failed` (all attempts used) or `no_notify_url` (waiting for
    /// the merchant to set one).
    pub delivery: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Exactly the body that is (or was) POSTed.
    #[schema(value_type = Object)]
    pub payload: Value,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Whether the merchant has a notify URL: without one, events wait (`no_notify_url`)
    /// and are sent once it is set.
    pub notify_url_set: bool,
}

/// What the outbox still owes merchants: events not yet acknowledged.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct OutboxOwed {
    /// Waiting for their next attempt.
    pub pending: u64,
    /// All attempts used (a merchant may retry them).
    pub failed: u64,
    /// Waiting for the merchant to set a notify URL.
    pub no_notify_url: u64,
    /// When the oldest of them was made.
    pub oldest_at: Option<String>,
}

/// Counts what the outbox owes, from storage (the operator's audit).
pub fn outbox_owed(conn: &mut cashless_store::Conn) -> Result<OutboxOwed, DbError> {
    let row = conn.query_opt(
        "SELECT \
           COALESCE(SUM(CASE WHEN next_attempt_ns IS NOT NULL THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN next_attempt_ns IS NULL AND attempts > 0 THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN next_attempt_ns IS NULL AND attempts = 0 THEN 1 ELSE 0 END), 0), \
           MIN(created_ns) \
         FROM events WHERE delivered_ns IS NULL",
        &[],
    )?;
    let Some(row) = row else {
        return Ok(OutboxOwed::default());
    };
    let count = |index| row.int(index).map(|n| u64::try_from(n).unwrap_or(0));
    Ok(OutboxOwed {
        pending: count(0)?,
        failed: count(1)?,
        no_notify_url: count(2)?,
        oldest_at: row
            .opt_int(3)?
            .map(|ns| rfc3339(u64::try_from(ns).unwrap_or(0))),
    })
}

struct Due {
    id: String,
    url: String,
    payload: String,
    attempts: u32,
}

impl Payments {
    /// The caller's events, oldest first (or newest first), after `after` (a `next_cursor`),
    /// optionally only those `delivered`, `pending` (a delivery is scheduled) or `failed`
    /// (retries used up, or made before there was a notify URL).
    pub async fn events(
        &self,
        caller: MerchantCaller,
        after: Option<&str>,
        limit: Option<u32>,
        newest_first: bool,
        delivery: Option<&str>,
    ) -> ServiceResult<EventPage> {
        // Webhook payloads and delivery errors describe the merchant's back end.
        caller.require_back_office()?;
        let only = match delivery {
            None | Some("") => "",
            Some("delivered") => "AND delivered_ns IS NOT NULL",
            Some("pending") => "AND delivered_ns IS NULL AND next_attempt_ns IS NOT NULL",
            Some("failed") => {
                "AND delivered_ns IS NULL AND next_attempt_ns IS NULL AND attempts > 0"
            }
            Some("no_notify_url") => {
                "AND delivered_ns IS NULL AND next_attempt_ns IS NULL AND attempts = 0"
            }
            Some(_) => {
                return Err(ServiceError::invalid(
                    "delivery_invalid",
                    "delivery is delivered, pending, failed or no_notify_url",
                ));
            }
        };
        let (direction, beyond) = if newest_first {
            ("DESC", "(created_ns < $2 OR (created_ns = $2 AND id < $3))")
        } else {
            ("ASC", "(created_ns > $2 OR (created_ns = $2 AND id > $3))")
        };
        let limit = limit.unwrap_or(20);
        if !(1..=EVENTS_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit_invalid",
                format!("limit must be 1 to {EVENTS_PAGE_MAX}"),
            ));
        }
        let cursor = after.map(cashless_kernel::wire::parse_cursor).transpose()?;
        let rows = self
            .store
            .read(move |conn| {
                let start = if newest_first { i64::MAX } else { -1 };
                let (after_ns, after_id) = cursor.unwrap_or((start, String::new()));
                // Events the writer has folded are indexed by merchant; the last tenth of a
                // second's by time only (migration 0013): a page is the first of both.
                let columns = "SELECT id, kind, order_id, created_ns, attempts, next_attempt_ns, \
                               delivered_ns, last_error, payload FROM events";
                let filter = format!("merchant_id = $1 AND {beyond} {only}");
                let order = format!("ORDER BY created_ns {direction}, id {direction} LIMIT $4");
                let notify_url_set = merchants::load(conn, &caller.merchant_id)?
                    .is_some_and(|merchant| merchant.notify_url.is_some());
                let rows = conn.query(
                    &format!(
                        "SELECT * FROM ({columns} WHERE folded = 1 AND {filter} {order}) AS folded \
                         UNION ALL \
                         SELECT * FROM ({columns} WHERE folded = 0 AND {filter} {order}) AS recent \
                         {order}"
                    ),
                    &[
                        Param::Text(&caller.merchant_id),
                        Param::Int(after_ns),
                        Param::Text(&after_id),
                        Param::Int(i64::from(limit) + 1),
                    ],
                )?;
                Ok((rows, notify_url_set))
            })
            .await?;
        let (rows, notify_url_set) = rows;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            let delivery = match (row.opt_int(6)?, row.opt_int(5)?, row.int(4)?) {
                (Some(_), _, _) => "delivered",
                (None, Some(_), _) => "pending",
                // Never tried: made while the merchant had no notify URL, sent once it has one.
                (None, None, 0) => "no_notify_url",
                (None, None, _) => "failed",
            };
            events.push(EventView {
                id: row.text(0)?.to_owned(),
                kind: row.text(1)?.to_owned(),
                order_id: row.text(2)?.to_owned(),
                created_at: rfc3339(row.int(3)? as u64),
                delivery: delivery.to_owned(),
                attempts: u32::try_from(row.int(4)?).unwrap_or(0),
                last_error: row.opt_text(7)?.map(str::to_owned),
                payload: serde_json::from_str(row.text(8)?).unwrap_or_default(),
            });
        }
        let next_cursor = if rows.len() > limit as usize {
            rows.get(limit as usize - 1)
                .map(|row| Ok::<_, DbError>(format!("{}.{}", row.int(3)?, row.text(0)?)))
                .transpose()?
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_cursor,
            notify_url_set,
        })
    }

    /// Sends an undelivered event again now (the merchant's "retry" button), whatever its
    /// schedule or however often it failed.
    pub async fn retry_event(
        &self,
        mut caller: MerchantCaller,
        event_id: &str,
    ) -> ServiceResult<()> {
        caller.require_back_office()?;
        self.claim_nonce(&mut caller).await?;
        let not_found = || ServiceError::not_found("event_not_found", "no such event");
        if !cashless_kernel::wire::is_id(event_id) {
            return Err(not_found());
        }
        let event_id = event_id.to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let row = conn
                    .query_opt(
                        "SELECT e.delivered_ns, m.notify_url FROM events e \
                         JOIN merchants m ON m.id = e.merchant_id \
                         WHERE e.id = $1 AND e.merchant_id = $2",
                        &[Param::Text(&event_id), Param::Text(&caller.merchant_id)],
                    )?
                    .ok_or_else(not_found)?;
                if row.opt_int(0)?.is_some() {
                    return Err(ServiceError::conflict(
                        "event_delivered",
                        "this event was already delivered",
                    ));
                }
                if row.opt_text(1)?.is_none() {
                    return Err(ServiceError::conflict(
                        "notify_url_missing",
                        "set a notify URL first: PUT /v1/merchant/notify-url",
                    ));
                }
                let reset = conn.execute(
                    "UPDATE events SET next_attempt_ns = $2 WHERE id = $1 \
                     AND (leased_until_ns IS NULL OR leased_until_ns <= $2)",
                    &[Param::Text(&event_id), Param::Int(now as i64)],
                )?;
                if reset == 0 {
                    return Err(ServiceError::conflict(
                        "event_in_flight",
                        "this event is being delivered right now; look again in a moment",
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Delivers the events that are due; answers how many were attempted.
    pub async fn dispatch_once(self: &Arc<Self>) -> ServiceResult<usize> {
        let lease = duration_ns(self.config.notify_timeout + Duration::from_secs(5));
        let due = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let rows = conn.query(
                    "SELECT e.id, m.notify_url, e.payload, e.attempts FROM events e JOIN merchants m ON m.id = e.merchant_id \
                     WHERE e.next_attempt_ns <= $1 AND e.delivered_ns IS NULL ORDER BY e.next_attempt_ns LIMIT $2",
                    &[Param::Int(now as i64), Param::Int(DISPATCH_BATCH_MAX)],
                )?;
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id = row.text(0)?.to_owned();
                    conn.execute(
                        "UPDATE events SET next_attempt_ns = $2, leased_until_ns = $2 WHERE id = $1",
                        &[Param::Text(&id), Param::Int(now.saturating_add(lease) as i64)],
                    )?;
                    let Some(url) = row.opt_text(1)?.map(str::to_owned) else { continue };
                    due.push(Due { id, url, payload: row.text(2)?.to_owned(), attempts: u32::try_from(row.int(3)?).unwrap_or(0) });
                }
                Ok::<_, ServiceError>(due)
            })
            .await?;
        let attempted = due.len();
        let mut deliveries = tokio::task::JoinSet::new();
        for event in due {
            if deliveries.len() >= DISPATCH_CONCURRENCY_MAX {
                let _ = deliveries.join_next().await;
            }
            let payments = Arc::clone(self);
            deliveries.spawn(async move {
                let outcome = payments.deliver(&event).await;
                if let Err(error) = payments.record_delivery(&event, outcome).await {
                    tracing::warn!(event = %event.id, %error, "could not record a delivery");
                }
            });
        }
        while deliveries.join_next().await.is_some() {}
        Ok(attempted)
    }

    async fn deliver(&self, event: &Due) -> Result<(), String> {
        // Address literals never reach the resolver: judge them here (the URL may predate
        // the rule, or the operator may have turned private destinations off since).
        if !self.config.notify_private_allowed
            && let Err(error) = merchants::check_notify_url(&event.url, false)
        {
            return Err(error.message);
        }
        let timestamp = (cashless_kernel::now_ns() / 1_000_000_000) as i64;
        let signature = self
            .platform_key
            .sign_notification(timestamp, &event.id, &event.payload);
        let response = self
            .http
            .post(&event.url)
            .header("content-type", "application/json")
            .header("cashless-event-id", &event.id)
            .header("cashless-timestamp", timestamp.to_string())
            .header("cashless-signature", signature)
            .body(event.payload.clone())
            .send()
            .await
            .map_err(|error| format!("no answer: {}", without_url(&error)))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() && body.trim() == "success" {
            Ok(())
        } else {
            // Only the status: the merchant reads `last_error`, and the body of whatever the
            // URL points at is not the platform's to show.
            let answered = if status.is_success() {
                ", not `success`"
            } else {
                ""
            };
            Err(format!("HTTP {}{answered}", status.as_u16()))
        }
    }

    async fn record_delivery(&self, event: &Due, outcome: Result<(), String>) -> ServiceResult<()> {
        let id = event.id.clone();
        let attempts = event.attempts + 1;
        let backoff: Vec<u64> = self
            .config
            .notify_backoff
            .iter()
            .map(|wait| duration_ns(*wait))
            .collect();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                match outcome {
                    Ok(()) => conn.execute(
                        "UPDATE events SET attempts = $2, delivered_ns = $3, next_attempt_ns = NULL, last_error = NULL, \
                         leased_until_ns = NULL WHERE id = $1 AND delivered_ns IS NULL",
                        &[Param::Text(&id), Param::Int(i64::from(attempts)), Param::Int(now as i64)],
                    )?,
                    Err(error) => {
                        let next = backoff.get(attempts as usize).map(|wait| now.saturating_add(*wait) as i64);
                        if next.is_none() {
                            tracing::warn!(event = %id, attempts, "notification given up after the last retry");
                        }
                        conn.execute(
                            "UPDATE events SET attempts = $2, next_attempt_ns = $3, last_error = $4, \
                             leased_until_ns = NULL WHERE id = $1 AND delivered_ns IS NULL",
                            &[Param::Text(&id), Param::Int(i64::from(attempts)), next.map_or(Param::Null, Param::Int), Param::Text(&error)],
                        )?
                    }
                };
                Ok::<_, ServiceError>(())
            })
            .await
    }

    pub(crate) fn spawn_dispatcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let payments = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match payments.dispatch_once().await {
                    Ok(n) if n as i64 >= DISPATCH_BATCH_MAX => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "notification dispatch failed"),
                }
                tokio::time::sleep(payments.config.poll_every).await;
            }
        })
    }

    /// Closes orders whose time ran out, finishes paid orders whose refund period ended, and
    /// forgets nonces older than the signature window. Answers how many orders changed.
    pub async fn sweep_once(&self) -> ServiceResult<usize> {
        let nonce_keep = duration_ns(self.config.signature_skew).saturating_mul(2);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let ids: Vec<String> = conn
                    .query(
                        "SELECT id FROM orders WHERE status IN ('WAIT_BUYER_PAY', 'USERPAYING', 'SUCCESS') \
                         AND expires_ns <= $1 ORDER BY expires_ns LIMIT $2",
                        &[Param::Int(now as i64), Param::Int(SWEEP_BATCH_MAX)],
                    )?
                    .iter()
                    .map(|row| row.text(0).map(str::to_owned))
                    .collect::<Result<_, _>>()?;
                for id in &ids {
                    let Some(mut order) = orders::by_id(conn, id)? else { continue };
                    let merchant = crate::merchants::load(conn, &order.merchant_id)?
                        .ok_or_else(|| ServiceError::internal("order without merchant"))?;
                    if order.status.is_open() {
                        orders::close(conn, &merchant, &mut order, now, "expired")?;
                    } else if order.status == OrderStatus::Success {
                        order.status = OrderStatus::Finished;
                        order.updated_ns = now;
                        orders::update(conn, &order)?;
                        enqueue(conn, &merchant, &order, "order.finished", json!({}), now)?;
                    }
                }
                conn.execute(
                    "DELETE FROM merchant_nonces WHERE seen_ns < $1",
                    &[Param::Int(now.saturating_sub(nonce_keep) as i64)],
                )?;
                // Staff sessions a day past their end (or their revocation) open nothing.
                let day_ago = now.saturating_sub(86_400 * 1_000_000_000) as i64;
                conn.execute(
                    "DELETE FROM staff_sessions WHERE expires_ns < $1 OR revoked_ns < $1",
                    &[Param::Int(day_ago)],
                )?;
                Ok::<_, ServiceError>(ids.len())
            })
            .await
    }

    pub(crate) fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let payments = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = payments.sweep_once().await {
                    tracing::warn!(%error, "order sweep failed");
                }
                tokio::time::sleep(payments.config.poll_every).await;
            }
        })
    }
}

/// A transport error without the URL (which may carry a merchant's secret query string).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<notify_url>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::time_ordered_id;

    #[test]
    fn event_ids_sort_by_time_and_differ_within_a_millisecond() {
        let earlier = time_ordered_id(1_795_000_000_000_000_000);
        let later = time_ordered_id(1_795_000_000_001_000_000);
        assert_eq!(earlier >> 80, 1_795_000_000_000);
        assert!(earlier < later);
        // The text form (a UUID's hex) sorts as the number does: the index appends.
        assert!(crate::id_string(earlier) < crate::id_string(later));
        let now = 1_795_000_000_000_000_000;
        assert_ne!(time_ordered_id(now), time_ordered_id(now));
    }
}
