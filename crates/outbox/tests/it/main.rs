#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The outbox's rules tested directly on the service, on both backends: events written in a
//! writer operation, delivered signed to a receiver listening on 127.0.0.1, retried on the
//! backoff, released once a destination exists, listed by page. The dispatcher is driven by
//! hand (`dispatch_once`), so no test waits on a clock.

mod delivery;
mod listing;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cashless_kernel::ServiceError;
use cashless_outbox::{
    EventView, EventsQuery, NewEvent, Outbox, OutboxConfig, OutboxOwed, PlatformKey, Recipients,
};
use cashless_store::{Conn, DbError, Store};
use cashless_testkit::TestDb;
use serde_json::json;

/// Where recipients' events go: a map the tests fill, as payments keeps merchants' URLs.
#[derive(Debug, Default)]
pub struct TestRecipients {
    urls: Mutex<HashMap<String, String>>,
}

impl Recipients for TestRecipients {
    fn notify_url(&self, _conn: &mut Conn, recipient: &str) -> Result<Option<String>, DbError> {
        Ok(self.urls.lock().unwrap().get(recipient).cloned())
    }
}

/// One POST the receiver got.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

/// A merchant's notification server on 127.0.0.1: records every POST and answers what it is
/// told to (by default `200 success`).
#[derive(Debug, Default)]
pub struct Receiver {
    received: Mutex<Vec<Delivery>>,
    answers: Mutex<VecDeque<(StatusCode, &'static str)>>,
}

impl Receiver {
    /// Answers the next POSTs with these, in order.
    pub fn answer(&self, answers: &[(StatusCode, &'static str)]) {
        self.answers.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    receiver.received.lock().unwrap().push(Delivery {
        event_id: header("cashless-event-id"),
        timestamp: header("cashless-timestamp").parse().unwrap_or(-1),
        signature: header("cashless-signature"),
        body,
    });
    let next = receiver.answers.lock().unwrap().pop_front();
    next.unwrap_or((StatusCode::OK, "success"))
}

/// The outbox over a fresh database, a receiver, and the recipients' URLs.
#[derive(Debug)]
pub struct Harness {
    pub store: Store,
    pub outbox: Arc<Outbox>,
    pub key: PlatformKey,
    pub receiver: Arc<Receiver>,
    /// The receiver's URL.
    pub url: String,
    recipients: Arc<TestRecipients>,
    server: tokio::task::JoinHandle<()>,
    _db: TestDb,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Immediately, again at once, then an hour later: a test sees a retry without waiting, and
/// the third attempt only when it asks for it.
pub fn config() -> OutboxConfig {
    OutboxConfig {
        backoff: vec![Duration::ZERO, Duration::ZERO, Duration::from_secs(3600)],
        timeout: Duration::from_secs(5),
        poll_every: Duration::from_secs(3600),
        private_allowed: true,
    }
}

impl Harness {
    pub async fn new(db: TestDb) -> Harness {
        Harness::with(db, config()).await
    }

    pub async fn with(db: TestDb, config: OutboxConfig) -> Harness {
        let store = cashless_testkit::open(db.config()).await;
        let receiver = Arc::new(Receiver::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/notify", axum::routing::post(receive))
            .with_state(receiver.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let recipients = Arc::new(TestRecipients::default());
        let key = PlatformKey::generate();
        let outbox = Outbox::new(store.clone(), config, key.clone(), recipients.clone()).unwrap();
        Harness {
            store,
            outbox,
            key,
            receiver,
            url,
            recipients,
            server,
            _db: db,
        }
    }

    /// Writes an event for `recipient` about `subject`, as an emitter does in the writer
    /// operation of its change: delivered now if the recipient has a URL, else waiting.
    pub async fn enqueue(&self, recipient: &str, subject: &str) -> String {
        let deliver = self.recipients.urls.lock().unwrap().contains_key(recipient);
        self.enqueue_at(recipient, &[subject], deliver, 0)
            .await
            .remove(0)
    }

    /// Writes one event per subject in one writer operation, `spacing_ns` apart in time.
    pub async fn enqueue_at(
        &self,
        recipient: &str,
        subjects: &[&str],
        deliver: bool,
        spacing_ns: u64,
    ) -> Vec<String> {
        let recipient = recipient.to_owned();
        let subjects: Vec<String> = subjects.iter().map(|s| (*s).to_owned()).collect();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let mut ids = Vec::new();
                for (at, subject) in (0u64..).zip(&subjects) {
                    let data = json!({ "order_id": subject, "amount": "12.50" });
                    let event = NewEvent {
                        recipient: &recipient,
                        subject,
                        kind: "order.paid",
                        data: &data,
                        deliver,
                    };
                    ids.push(cashless_outbox::enqueue(
                        tx.conn()?,
                        event,
                        now + at * spacing_ns,
                    )?);
                }
                Ok::<_, ServiceError>(ids)
            })
            .await
            .unwrap()
    }

    /// Gives `recipient` a notify URL and releases its waiting events, in one writer
    /// operation (as the owner of recipients does when one sets its URL).
    pub async fn set_url(&self, recipient: &str, url: &str) {
        self.recipients
            .urls
            .lock()
            .unwrap()
            .insert(recipient.to_owned(), url.to_owned());
        let recipient = recipient.to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                cashless_outbox::release_waiting(tx.conn()?, &recipient, now)?;
                Ok::<_, ServiceError>(())
            })
            .await
            .unwrap();
    }

    /// Every event of `recipient`, oldest first.
    pub async fn events(&self, recipient: &str) -> Vec<EventView> {
        let query = EventsQuery {
            limit: Some(100),
            ..EventsQuery::default()
        };
        self.outbox.events(recipient, query).await.unwrap().events
    }

    /// The one event `id` of `recipient`.
    pub async fn event(&self, recipient: &str, id: &str) -> EventView {
        let events = self.events(recipient).await;
        events
            .into_iter()
            .find(|event| event.id == id)
            .unwrap_or_else(|| panic!("no event {id}"))
    }

    /// What the outbox still owes, counted from storage.
    pub async fn owed(&self) -> OutboxOwed {
        self.store.read(cashless_outbox::owed).await.unwrap()
    }

    /// One round of the dispatcher; answers how many events it attempted.
    pub async fn dispatch(&self) -> usize {
        self.outbox.dispatch_once().await.unwrap()
    }
}
