//! The transactional outbox, and the dispatcher that empties it as signed webhooks.
//!
//! Every change worth telling a merchant about writes its event with [`enqueue`] in the same
//! writer operation as the change, so an event exists if and only if the change committed.
//! The dispatcher ([`dispatch`]) POSTs each due event to its recipient's notify URL, signed by
//! the platform ([`signature`]), and counts it delivered only on a 2xx answer whose body is
//! `success`. Otherwise it retries after the configured backoff — by default Alipay's: at
//! once, then 4m, 10m, 10m, 1h, 2h, 6h, 15h — and then gives up (the recipient can still read
//! every event, and send one again, through [`Outbox::events`] and [`Outbox::retry`]).
//!
//! An event is leased before delivery (its next attempt moved past the delivery timeout), so a
//! crash mid-delivery only delays it: delivery is at least once, always with the same event
//! id, which recipients use to drop duplicates.
//!
//! Recipients are merchants (a biller or an escrow seller is a merchant too), known here only
//! by id: the crate that owns them says where their events go ([`Recipients`]). This crate
//! must never know what an order, a bill or a trade is; an event's `data` is the emitter's.

pub mod destination;
pub mod dispatch;
pub mod signature;

pub mod ids {
    //! The ids of what the outbox owns, checked where they enter (see `cashless_kernel::ids`).
    cashless_kernel::id_kinds! {
        Event(EventId) = ("event_not_found", "no such event");
    }
}

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_store::{Conn, DbError, Param, Store, TableRoles};
use serde::Serialize;
use serde_json::Value;

pub use signature::PlatformKey;

/// The largest page of events.
pub const EVENTS_PAGE_MAX: u32 = 100;

/// The outbox's rules that are configuration rather than code. Tests shorten the clocks.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// Waits before each delivery attempt: the first is immediate, the rest are retries.
    pub backoff: Vec<Duration>,
    /// How long one delivery may take.
    pub timeout: Duration,
    /// How often the dispatcher looks for due events.
    pub poll_every: Duration,
    /// Whether notify URLs may be plain http and point at private or loopback addresses.
    /// Off in production (see [`destination`]); on for development and tests.
    pub private_allowed: bool,
}

impl Default for OutboxConfig {
    fn default() -> OutboxConfig {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        OutboxConfig {
            // Alipay's schedule: at once, then 4m, 10m, 10m, 1h, 2h, 6h, 15h.
            backoff: vec![
                Duration::ZERO,
                minutes(4),
                minutes(10),
                minutes(10),
                minutes(60),
                minutes(120),
                minutes(360),
                minutes(900),
            ],
            timeout: Duration::from_secs(10),
            poll_every: Duration::from_millis(500),
            private_allowed: false,
        }
    }
}

/// Where a recipient's events go: answered by the crate that owns recipients, read in the
/// writer operation or the read that needs it.
pub trait Recipients: fmt::Debug + Send + Sync + 'static {
    /// The recipient's notify URL (checked by [`destination::check_url`] when it was set), or
    /// `None` while it has not set one or does not exist.
    fn notify_url(&self, conn: &mut Conn, recipient: &str) -> Result<Option<String>, DbError>;
}

/// The outbox service. Share it as `Arc<Outbox>`.
#[derive(Debug)]
pub struct Outbox {
    store: Store,
    config: OutboxConfig,
    platform_key: PlatformKey,
    http: reqwest::Client,
    recipients: Arc<dyn Recipients>,
}

impl Outbox {
    /// The outbox's table, as the store must know it: events are indexed by recipient once
    /// folded (migration 0013).
    pub const TABLES: TableRoles = TableRoles {
        credentials: &[],
        cached: &[],
        folds: &["UPDATE events SET folded = 1 WHERE folded = 0"],
    };

    /// Fails only if the HTTP client for deliveries cannot be built (its TLS backend): never
    /// silently with a client that lacks the destination guard.
    pub fn new(
        store: Store,
        config: OutboxConfig,
        platform_key: PlatformKey,
        recipients: Arc<dyn Recipients>,
    ) -> Result<Arc<Outbox>, reqwest::Error> {
        store.register(Outbox::TABLES);
        // Webhooks go out over TLS with rustls and the `ring` provider (no C toolchain
        // beyond cc); installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No redirects and no proxy from the environment: either would let a delivery go
        // somewhere the destination guard never judged.
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !config.private_allowed {
            http = http.dns_resolver(Arc::new(destination::PublicOnly));
        }
        Ok(Arc::new(Outbox {
            store,
            config,
            platform_key,
            http: http.build()?,
            recipients,
        }))
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// The key deliveries are signed with (published at `GET /v1/platform/keys`).
    pub fn platform_key(&self) -> &PlatformKey {
        &self.platform_key
    }

    /// Checks a notify URL a recipient wants to set, under this outbox's destination rule.
    pub fn check_url(&self, url: &str) -> ServiceResult<String> {
        destination::check_url(url, self.config.private_allowed)
    }

    /// Starts the dispatcher.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![self.spawn_dispatcher()]
    }
}

/// A UUIDv7 for `now_ns` (the writer's clock): new rows append to the end of the id's index
/// instead of dirtying a random page.
fn time_ordered_id(now_ns: u64) -> u128 {
    cashless_ledger::TimeOrderedIds::new().next(now_ns / 1_000_000, rand::random())
}

/// An event to write: what changed (`kind`, e.g. `order.paid`), for whom, about what.
#[derive(Debug)]
pub struct NewEvent<'a, D> {
    /// The merchant told.
    pub recipient: &'a str,
    /// The id of what changed (an order, a bill, a trade).
    pub subject: &'a str,
    pub kind: &'a str,
    /// The emitter's description, the payload's `data`.
    pub data: &'a D,
    /// Whether the recipient has a notify URL now: if not, the event waits for one
    /// ([`release_waiting`]).
    pub deliver: bool,
}

/// The JSON body of a notification, written straight to text (no intermediate JSON tree: it
/// is built inside the writer, once per change).
#[derive(Serialize)]
struct EventBody<'a, D> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    merchant_id: &'a str,
    data: &'a D,
}

/// Writes an event; answers its id. Call in the writer operation of the change it describes:
/// the only way an event is made.
pub fn enqueue<D: Serialize>(
    conn: &mut Conn,
    event: NewEvent<'_, D>,
    now: u64,
) -> ServiceResult<String> {
    let id = cashless_kernel::id_string(time_ordered_id(now));
    let payload = serde_json::to_string(&EventBody {
        id: &id,
        kind: event.kind,
        created_at: rfc3339(now),
        merchant_id: event.recipient,
        data: event.data,
    })
    .map_err(|error| ServiceError::internal(format!("cannot write an event: {error}")))?;
    let now = ns_param(now);
    conn.write(
        "INSERT INTO events (id, merchant_id, order_id, kind, payload, created_ns, attempts, next_attempt_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        &[
            Param::Text(&id),
            Param::Text(event.recipient),
            Param::Text(event.subject),
            Param::Text(event.kind),
            Param::Text(&payload),
            Param::Int(now),
            if event.deliver {
                Param::Int(now)
            } else {
                Param::Null
            },
        ],
    )?;
    Ok(id)
}

/// Schedules the recipient's undelivered events that have no next attempt (made while it had
/// no notify URL, or given up on) for now. Call in the writer operation that sets its URL:
/// every event reaches its recipient at least once.
pub fn release_waiting(conn: &mut Conn, recipient: &str, now: u64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE events SET next_attempt_ns = $2 \
         WHERE merchant_id = $1 AND delivered_ns IS NULL AND next_attempt_ns IS NULL",
        &[Param::Text(recipient), Param::Int(ns_param(now))],
    )?;
    Ok(())
}

/// A time in nanoseconds as an SQL integer (saturating: the year 2262 is far).
fn ns_param(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// A stored time in nanoseconds (never negative when written by [`ns_param`]).
fn ns_value(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
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

/// Which of a recipient's events to list.
#[derive(Clone, Debug, Default)]
pub struct EventsQuery {
    /// A `next_cursor` from the page before.
    pub after: Option<String>,
    /// 1 to [`EVENTS_PAGE_MAX`]; 20 when absent.
    pub limit: Option<u32>,
    pub newest_first: bool,
    /// `delivered`, `pending`, `failed` or `no_notify_url`; all when absent.
    pub delivery: Option<String>,
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
pub fn owed(conn: &mut Conn) -> Result<OutboxOwed, DbError> {
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
        oldest_at: row.opt_int(3)?.map(|ns| rfc3339(ns_value(ns))),
    })
}

/// The SQL condition selecting events by their delivery state.
fn delivery_filter(delivery: Option<&str>) -> ServiceResult<&'static str> {
    Ok(match delivery {
        None | Some("") => "",
        Some("delivered") => "AND delivered_ns IS NOT NULL",
        Some("pending") => "AND delivered_ns IS NULL AND next_attempt_ns IS NOT NULL",
        Some("failed") => "AND delivered_ns IS NULL AND next_attempt_ns IS NULL AND attempts > 0",
        Some("no_notify_url") => {
            "AND delivered_ns IS NULL AND next_attempt_ns IS NULL AND attempts = 0"
        }
        Some(_) => {
            return Err(ServiceError::invalid(
                "delivery_invalid",
                "delivery is delivered, pending, failed or no_notify_url",
            ));
        }
    })
}

/// An event row (`id, kind, order_id, created_ns, attempts, next_attempt_ns, delivered_ns,
/// last_error, payload`) as the recipient sees it.
fn event_view(row: &cashless_store::Row) -> Result<EventView, DbError> {
    let delivery = match (row.opt_int(6)?, row.opt_int(5)?, row.int(4)?) {
        (Some(_), _, _) => "delivered",
        (None, Some(_), _) => "pending",
        // Never tried: made while the merchant had no notify URL, sent once it has one.
        (None, None, 0) => "no_notify_url",
        (None, None, _) => "failed",
    };
    Ok(EventView {
        id: row.text(0)?.to_owned(),
        kind: row.text(1)?.to_owned(),
        order_id: row.text(2)?.to_owned(),
        created_at: rfc3339(ns_value(row.int(3)?)),
        delivery: delivery.to_owned(),
        attempts: u32::try_from(row.int(4)?).unwrap_or(0),
        last_error: row.opt_text(7)?.map(str::to_owned),
        payload: serde_json::from_str(row.text(8)?).unwrap_or_default(),
    })
}

impl Outbox {
    /// A recipient's events, oldest first (or newest first), after a `next_cursor`, optionally
    /// only those `delivered`, `pending` (a delivery is scheduled), `failed` (retries used up)
    /// or `no_notify_url` (made before there was a notify URL). The caller has checked the
    /// recipient may read them.
    pub async fn events(&self, recipient: &str, query: EventsQuery) -> ServiceResult<EventPage> {
        let only = delivery_filter(query.delivery.as_deref())?;
        let newest_first = query.newest_first;
        let (direction, beyond) = if newest_first {
            ("DESC", "(created_ns < $2 OR (created_ns = $2 AND id < $3))")
        } else {
            ("ASC", "(created_ns > $2 OR (created_ns = $2 AND id > $3))")
        };
        let limit = query.limit.unwrap_or(20);
        if !(1..=EVENTS_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit_invalid",
                format!("limit must be 1 to {EVENTS_PAGE_MAX}"),
            ));
        }
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        let cursor = query
            .after
            .as_deref()
            .map(cashless_kernel::wire::parse_cursor)
            .transpose()?;
        let recipient = recipient.to_owned();
        let recipients = Arc::clone(&self.recipients);
        let (rows, notify_url_set) = self
            .store
            .read(move |conn| {
                let start = if newest_first { i64::MAX } else { -1 };
                let (after_ns, after_id) = cursor.unwrap_or((start, String::new()));
                // Events the writer has folded are indexed by recipient; the last tenth of a
                // second's by time only (migration 0013): a page is the first of both.
                let columns = "SELECT id, kind, order_id, created_ns, attempts, next_attempt_ns, \
                               delivered_ns, last_error, payload FROM events";
                let filter = format!("merchant_id = $1 AND {beyond} {only}");
                let order = format!("ORDER BY created_ns {direction}, id {direction} LIMIT $4");
                let notify_url_set = recipients.notify_url(conn, &recipient)?.is_some();
                let rows = conn.query(
                    &format!(
                        "SELECT * FROM ({columns} WHERE folded = 1 AND {filter} {order}) AS folded \
                         UNION ALL \
                         SELECT * FROM ({columns} WHERE folded = 0 AND {filter} {order}) AS recent \
                         {order}"
                    ),
                    &[
                        Param::Text(&recipient),
                        Param::Int(after_ns),
                        Param::Text(&after_id),
                        Param::Int(i64::from(limit) + 1),
                    ],
                )?;
                Ok((rows, notify_url_set))
            })
            .await?;
        let events = rows
            .iter()
            .take(page)
            .map(event_view)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match rows.get(page.wrapping_sub(1)) {
            Some(last) if rows.len() > page => Some(format!("{}.{}", last.int(3)?, last.text(0)?)),
            _ => None,
        };
        Ok(EventPage {
            events,
            next_cursor,
            notify_url_set,
        })
    }

    /// Sends a recipient's undelivered event again now (the merchant's "retry" button),
    /// whatever its schedule or however often it failed. The caller has checked the recipient
    /// may.
    pub async fn retry(&self, recipient: &str, event_id: &ids::EventId) -> ServiceResult<()> {
        let not_found = ids::EventId::not_found;
        let event_id = event_id.as_str().to_owned();
        let recipient = recipient.to_owned();
        let recipients = Arc::clone(&self.recipients);
        self.store
            .write(move |tx| {
                let now = ns_param(tx.now_ns());
                let conn = tx.conn()?;
                let row = conn
                    .query_opt(
                        "SELECT delivered_ns FROM events WHERE id = $1 AND merchant_id = $2",
                        &[Param::Text(&event_id), Param::Text(&recipient)],
                    )?
                    .ok_or_else(not_found)?;
                if row.opt_int(0)?.is_some() {
                    return Err(ServiceError::conflict(
                        "event_delivered",
                        "this event was already delivered",
                    ));
                }
                if recipients.notify_url(conn, &recipient)?.is_none() {
                    return Err(ServiceError::conflict(
                        "notify_url_missing",
                        "set a notify URL first: PUT /v1/merchant/notify-url",
                    ));
                }
                let reset = conn.execute(
                    "UPDATE events SET next_attempt_ns = $2 WHERE id = $1 \
                     AND (leased_until_ns IS NULL OR leased_until_ns <= $2)",
                    &[Param::Text(&event_id), Param::Int(now)],
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
        assert!(cashless_kernel::id_string(earlier) < cashless_kernel::id_string(later));
        let now = 1_795_000_000_000_000_000;
        assert_ne!(time_ordered_id(now), time_ordered_id(now));
    }
}
