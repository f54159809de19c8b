#![allow(clippy::unwrap_used, clippy::expect_used)]

//! API tests: the real application on port 0, a fresh database per test (SQLite and
//! PostgreSQL), driven over HTTP.

mod connections;
mod contract;
mod demo;
mod ledger;
mod payments;
mod statements;
mod transit;
mod wallet;

use std::sync::Arc;

use std::time::Duration;

use cashless_kernel::Secrets;
use cashless_outbox::{Outbox, OutboxConfig, PlatformKey};
use cashless_partners::{
    SimulatedBank, SimulatedBankConfig, SimulatedFx, SimulatedSms, SimulatedSmsConfig,
};
use cashless_payments::{MerchantRecipients, Payments, PaymentsConfig};
use cashless_server::{AppState, OperatorToken};
use cashless_store::Store;
use cashless_testkit::TestDb;
use cashless_wallet::{Partners, Wallet, WalletConfig};
use serde_json::Value;

pub const TOKEN: &str = "test-operator-token-0123456789abcdef";

#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub wallet: Arc<Wallet>,
    pub payments: Arc<Payments>,
    pub rides: Arc<cashless_rides::Rides>,
    pub sms: Arc<SimulatedSms>,
    pub bank: Arc<SimulatedBank>,
    server: tokio::task::JoinHandle<()>,
    reconciler: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    setup: Setup,
    _db: TestDb,
}

/// What a restart keeps: the database, the pepper, the bank's journal, the configuration.
#[derive(Clone, Debug)]
pub struct Setup {
    pub wallet: WalletConfig,
    pub bank: SimulatedBankConfig,
    pub secrets: Secrets,
    pub payments: PaymentsConfig,
    pub rides: cashless_rides::RidesConfig,
    pub outbox: OutboxConfig,
    pub platform_key: PlatformKey,
    pub limits: cashless_server::listen::Limits,
    /// Production mode (HSTS).
    pub production: bool,
    /// Every request logged (with --nocapture, the log is there to read).
    pub access_log: cashless_server::access_log::AccessLog,
    /// How long the simulated SMS gateway takes to send.
    pub sms_latency: Duration,
}

impl Default for Setup {
    /// Fast clocks and cheap PIN hashing; the rules are the production ones otherwise.
    fn default() -> Setup {
        let journal = std::env::temp_dir().join(format!(
            "cashless_bank_{}_{:016x}.jsonl",
            std::process::id(),
            rand::random::<u64>()
        ));
        Setup {
            wallet: WalletConfig {
                sms_resend_after: Duration::ZERO,
                sms_daily_max: 1_000,
                pin_hash_memory_kib: 1024,
                pin_hash_passes: 1,
                reconcile_every: Duration::from_millis(50),
                ..WalletConfig::default()
            },
            bank: SimulatedBankConfig {
                latency: Duration::from_millis(1),
                confirm_after: Duration::from_millis(100),
                journal: Some(journal),
                ..SimulatedBankConfig::default()
            },
            secrets: Secrets::random(),
            payments: PaymentsConfig {
                sweep_every: Duration::from_millis(25),
                ..PaymentsConfig::default()
            },
            outbox: OutboxConfig {
                backoff: vec![
                    Duration::ZERO,
                    Duration::from_millis(100),
                    Duration::from_millis(200),
                    Duration::from_millis(300),
                ],
                timeout: Duration::from_secs(2),
                poll_every: Duration::from_millis(25),
                // The merchants' notification servers listen on 127.0.0.1 here.
                private_allowed: true,
            },
            rides: cashless_rides::RidesConfig::default(),
            platform_key: PlatformKey::generate(),
            limits: cashless_server::listen::Limits::default(),
            production: false,
            access_log: cashless_server::access_log::AccessLog::All,
            sms_latency: Duration::from_millis(1),
        }
    }
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        TestApp::spawn_with(db, Setup::default()).await
    }

    pub async fn spawn_with(db: TestDb, setup: Setup) -> TestApp {
        let store = cashless_testkit::open(db.config()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sms = Arc::new(SimulatedSms::new(SimulatedSmsConfig {
            latency: setup.sms_latency,
            failure_ppm: 0,
        }));
        let bank = Arc::new(SimulatedBank::open(setup.bank.clone(), sms.clone()).unwrap());
        let wallet = Wallet::new(
            store.clone(),
            setup.wallet.clone(),
            setup.secrets.clone(),
            Partners {
                sms: sms.clone(),
                bank: bank.clone(),
                fx: Arc::new(SimulatedFx::default()),
            },
        );
        let reconciler = wallet.spawn_reconciler();
        let outbox = Outbox::new(
            store.clone(),
            setup.outbox.clone(),
            setup.platform_key.clone(),
            Arc::new(MerchantRecipients),
        )
        .unwrap();
        let payments = Payments::new(wallet.clone(), setup.payments.clone(), outbox.clone());
        let rides = cashless_rides::Rides::new(wallet.clone(), setup.rides.clone());
        let mut background = outbox.spawn_background();
        background.extend(payments.spawn_background());
        background.extend(rides.spawn_background());
        let state = AppState {
            store: store.clone(),
            operator_token: Arc::new(OperatorToken::new(TOKEN).unwrap()),
            wallet: wallet.clone(),
            payments: payments.clone(),
            rides: rides.clone(),
            sms_outbox: Some(sms.clone()),
            demo: false,
            production: setup.production,
            access_log: setup.access_log,
            demo_city: Default::default(),
        };
        let limits = setup.limits;
        let server = tokio::spawn(async move {
            cashless_server::serve(listener, state, limits, std::future::pending())
                .await
                .unwrap();
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            store,
            wallet,
            payments,
            rides,
            sms,
            bank,
            server,
            reconciler,
            background,
            setup,
            _db: db,
        }
    }

    /// Stops everything (as a crash after the last commit would) and starts again on the same
    /// database, pepper and bank journal.
    pub async fn restart(self) -> TestApp {
        let setup = self.setup.clone();
        self.restart_with(setup).await
    }

    /// [`TestApp::restart`] with another configuration (say, a bank that declines).
    pub async fn restart_with(self, setup: Setup) -> TestApp {
        self.server.abort();
        self.reconciler.abort();
        self.background
            .iter()
            .for_each(tokio::task::JoinHandle::abort);
        self.store.halt().await;
        TestApp::spawn_with(self._db, setup).await
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
        self.reconciler.abort();
        self.background
            .iter()
            .for_each(tokio::task::JoinHandle::abort);
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
