//! The dispatcher: leases due events, POSTs them signed, and records each outcome with the
//! next attempt from the backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::{ServiceError, ServiceResult, duration_ns};
use cashless_store::Param;

use crate::{Outbox, destination, ns_param};

/// Events the dispatcher takes per round, and how many it delivers at once.
pub const DISPATCH_BATCH_MAX: usize = 64;
pub const DISPATCH_CONCURRENCY_MAX: usize = 16;

/// An event leased for delivery.
struct Due {
    id: String,
    url: String,
    payload: String,
    attempts: u32,
}

impl Outbox {
    /// Delivers the events that are due; answers how many were attempted.
    pub async fn dispatch_once(self: &Arc<Self>) -> ServiceResult<usize> {
        let due = self.lease_due().await?;
        let attempted = due.len();
        let mut deliveries = tokio::task::JoinSet::new();
        for event in due {
            if deliveries.len() >= DISPATCH_CONCURRENCY_MAX {
                let _ = deliveries.join_next().await;
            }
            let outbox = Arc::clone(self);
            deliveries.spawn(async move {
                let outcome = outbox.deliver(&event).await;
                if let Err(error) = outbox.record_delivery(&event, outcome).await {
                    tracing::warn!(event = %event.id, %error, "could not record a delivery");
                }
            });
        }
        while deliveries.join_next().await.is_some() {}
        Ok(attempted)
    }

    /// Takes the due events, moving each one's next attempt past the delivery timeout (the
    /// lease) in the same write; answers those whose recipient has a notify URL.
    async fn lease_due(&self) -> ServiceResult<Vec<Due>> {
        let lease = duration_ns(self.config.timeout + Duration::from_secs(5));
        let recipients = Arc::clone(&self.recipients);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let rows = conn.query(
                    "SELECT id, merchant_id, payload, attempts FROM events \
                     WHERE next_attempt_ns <= $1 AND delivered_ns IS NULL \
                     ORDER BY next_attempt_ns LIMIT $2",
                    &[
                        Param::Int(ns_param(now)),
                        Param::Int(i64::try_from(DISPATCH_BATCH_MAX).unwrap_or(i64::MAX)),
                    ],
                )?;
                let mut urls: HashMap<String, Option<String>> = HashMap::new();
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id = row.text(0)?.to_owned();
                    conn.execute(
                        "UPDATE events SET next_attempt_ns = $2, leased_until_ns = $2 WHERE id = $1",
                        &[
                            Param::Text(&id),
                            Param::Int(ns_param(now.saturating_add(lease))),
                        ],
                    )?;
                    let recipient = row.text(1)?;
                    let url = match urls.get(recipient) {
                        Some(url) => url.clone(),
                        None => {
                            let url = recipients.notify_url(conn, recipient)?;
                            urls.insert(recipient.to_owned(), url.clone());
                            url
                        }
                    };
                    let Some(url) = url else { continue };
                    due.push(Due {
                        id,
                        url,
                        payload: row.text(2)?.to_owned(),
                        attempts: u32::try_from(row.int(3)?).unwrap_or(0),
                    });
                }
                Ok::<_, ServiceError>(due)
            })
            .await
    }

    async fn deliver(&self, event: &Due) -> Result<(), String> {
        // Address literals never reach the resolver: judge them here (the URL may predate
        // the rule, or the operator may have turned private destinations off since).
        if !self.config.private_allowed
            && let Err(error) = destination::check_url(&event.url, false)
        {
            return Err(error.message);
        }
        let timestamp =
            i64::try_from(cashless_kernel::now_ns() / 1_000_000_000).unwrap_or(i64::MAX);
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
        let attempts = event.attempts.saturating_add(1);
        let next_wait = usize::try_from(attempts)
            .ok()
            .and_then(|index| self.config.backoff.get(index))
            .map(|wait| duration_ns(*wait));
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                match outcome {
                    Ok(()) => conn.execute(
                        "UPDATE events SET attempts = $2, delivered_ns = $3, next_attempt_ns = NULL, \
                         last_error = NULL, leased_until_ns = NULL WHERE id = $1 AND delivered_ns IS NULL",
                        &[
                            Param::Text(&id),
                            Param::Int(i64::from(attempts)),
                            Param::Int(ns_param(now)),
                        ],
                    )?,
                    Err(error) => {
                        let next = next_wait.map(|wait| ns_param(now.saturating_add(wait)));
                        if next.is_none() {
                            tracing::warn!(event = %id, attempts, "notification given up after the last retry");
                        }
                        conn.execute(
                            "UPDATE events SET attempts = $2, next_attempt_ns = $3, last_error = $4, \
                             leased_until_ns = NULL WHERE id = $1 AND delivered_ns IS NULL",
                            &[
                                Param::Text(&id),
                                Param::Int(i64::from(attempts)),
                                next.map_or(Param::Null, Param::Int),
                                Param::Text(&error),
                            ],
                        )?
                    }
                };
                Ok::<_, ServiceError>(())
            })
            .await
    }

    pub(crate) fn spawn_dispatcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let outbox = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match outbox.dispatch_once().await {
                    Ok(n) if n >= DISPATCH_BATCH_MAX => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "notification dispatch failed"),
                }
                tokio::time::sleep(outbox.config.poll_every).await;
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
