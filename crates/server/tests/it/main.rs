#![allow(clippy::unwrap_used, clippy::expect_used)]

//! API tests: the real application on port 0, a fresh database per test (SQLite and
//! PostgreSQL), driven over HTTP.

mod ledger;

use std::sync::Arc;

use cashless_server::{AppState, OperatorToken};
use cashless_store::Store;
use cashless_testkit::TestDb;
use serde_json::Value;

pub const TOKEN: &str = "test-operator-token-0123456789abcdef";

#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    server: tokio::task::JoinHandle<()>,
    _db: TestDb,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        let store = cashless_testkit::open(db.config()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            store: store.clone(),
            operator_token: Arc::new(OperatorToken::new(TOKEN).unwrap()),
        };
        let server = tokio::spawn(async move {
            cashless_server::serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            store,
            server,
            _db: db,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Posts raw bytes as JSON (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn stop(self) {
        self.server.abort();
        self.store.shutdown().await;
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}
