#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The payments rules tested directly on the service, on both backends: no HTTP, the real
//! store, wallet and outbox, simulated partners. The HTTP contract is tested in
//! `crates/server/tests`.

mod lifecycle;

use std::sync::Arc;
use std::time::Duration;

use cashless_outbox::{EventView, EventsQuery, Outbox, OutboxConfig, PlatformKey};
use cashless_payments::merchants::{MerchantCaller, MerchantInput, uscc_check_character};
use cashless_payments::signing::MerchantSigner;
use cashless_payments::{MerchantRecipients, Payments, PaymentsConfig};
use cashless_store::Store;
use cashless_testkit::TestDb;
use cashless_testkit::people::serial;
pub use cashless_testkit::wallet::PIN;
use cashless_testkit::wallet::{TestWallet, bank_config, wallet_config};
use cashless_wallet::{Session, Wallet};

/// The payments service with everything it stands on.
#[derive(Debug)]
pub struct Harness {
    pub store: Store,
    pub wallet: Arc<Wallet>,
    pub payments: Arc<Payments>,
    /// Makes consumers through the wallet.
    pub consumers: TestWallet,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _db: TestDb,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// An onboarded merchant and the key it signs with.
#[derive(Debug)]
pub struct Merchant {
    pub id: String,
    pub signer: MerchantSigner,
}

impl Harness {
    /// Fast clocks and cheap PIN hashing; the production rules otherwise, except what
    /// `payments` changes.
    pub async fn new(db: TestDb, payments: PaymentsConfig) -> Harness {
        let store = cashless_testkit::open(db.config()).await;
        let consumers = TestWallet::new(
            store.clone(),
            wallet_config(),
            bank_config(Duration::from_millis(1)),
        );
        let wallet = consumers.wallet.clone();
        let outbox = Outbox::new(
            store.clone(),
            OutboxConfig {
                private_allowed: true,
                ..OutboxConfig::default()
            },
            PlatformKey::generate(),
            Arc::new(MerchantRecipients),
        )
        .unwrap();
        let payments = Payments::new(wallet.clone(), payments, outbox);
        let tasks = vec![wallet.spawn_reconciler()];
        Harness {
            store,
            consumers,
            wallet,
            payments,
            tasks,
            _db: db,
        }
    }

    /// A consumer verified with a resident ID, the PIN [`PIN`], a card, and `balance` CNY
    /// topped up from it.
    pub async fn payer(&self, name: &str, balance: &str) -> Session {
        self.consumers.payer(name, balance).await.session
    }

    /// A merchant onboarded with a signing key and one store.
    pub async fn merchant(&self) -> Merchant {
        let (secret, public) = MerchantSigner::generate_key();
        let view = self
            .payments
            .onboard(MerchantInput {
                legal_name: "Hangzhou West Lake Noodles Co., Ltd.".to_owned(),
                display_name: "West Lake Noodles".to_owned(),
                chinese_name: Some("西湖面馆".to_owned()),
                mcc: "5812".to_owned(),
                city: "Hangzhou".to_owned(),
                licence_number: licence(),
                settlement_bank: "ICBC Hangzhou".to_owned(),
                settlement_account: "6222020123456789".to_owned(),
                fee_rate_bps: None,
                notify_url: None,
                public_key: Some(public),
                order_amount_max: None,
            })
            .await
            .unwrap();
        let key_id = view.keys[0].id.clone();
        Merchant {
            signer: MerchantSigner::new(&view.id, &key_id, &secret).unwrap(),
            id: view.id,
        }
    }

    /// The merchant as its signed request makes it (a fresh nonce each time).
    pub async fn caller(&self, merchant: &Merchant) -> MerchantCaller {
        let nonce = format!("n{:016x}", rand::random::<u64>());
        let now = i64::try_from(cashless_kernel::now_ns() / 1_000_000_000).unwrap();
        let parts = merchant.signer.sign("POST", "/v1/test", now, &nonce, b"");
        self.payments
            .authenticate(Some(&parts.authorization), "POST", "/v1/test", b"")
            .await
            .unwrap()
    }

    /// The events the merchant was told about one order, oldest first.
    pub async fn events_of(&self, merchant: &Merchant, order_id: &str) -> Vec<EventView> {
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let query = EventsQuery {
                after,
                limit: Some(100),
                ..EventsQuery::default()
            };
            let page = self
                .payments
                .events(self.caller(merchant).await, query)
                .await
                .unwrap();
            events.extend(
                page.events
                    .into_iter()
                    .filter(|event| event.order_id == order_id),
            );
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => return events,
            }
        }
    }
}

/// A fresh, valid business licence number (unified social credit code).
fn licence() -> String {
    let first = format!("9133010{:010}", u64::from(serial()) * 7 + 3);
    let check = uscc_check_character(&first).unwrap();
    format!("{first}{check}")
}
