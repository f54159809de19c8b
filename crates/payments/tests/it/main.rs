#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The payments rules tested directly on the service, on both backends: no HTTP, the real
//! store, wallet and outbox, simulated partners. The HTTP contract is tested in
//! `crates/server/tests`.

mod lifecycle;

use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::Secrets;
use cashless_outbox::{EventView, EventsQuery, Outbox, OutboxConfig, PlatformKey};
use cashless_partners::{
    SimulatedBank, SimulatedBankConfig, SimulatedFx, SimulatedSms, SimulatedSmsConfig,
};
use cashless_payments::merchants::{MerchantCaller, MerchantInput, uscc_check_character};
use cashless_payments::signing::MerchantSigner;
use cashless_payments::{MerchantRecipients, Payments, PaymentsConfig};
use cashless_store::Store;
use cashless_testkit::TestDb;
use cashless_testkit::people::{ICBC, card, phone, resident_id, serial};
use cashless_wallet::funding::TopUpRequest;
use cashless_wallet::identity::IdentityInput;
use cashless_wallet::{DeviceInput, Partners, Session, Wallet, WalletConfig};

/// The PIN every test payer sets.
pub const PIN: &str = "258036";

/// The payments service with everything it stands on.
#[derive(Debug)]
pub struct Harness {
    pub store: Store,
    pub wallet: Arc<Wallet>,
    pub payments: Arc<Payments>,
    pub sms: Arc<SimulatedSms>,
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
        let sms = Arc::new(SimulatedSms::new(SimulatedSmsConfig {
            latency: Duration::ZERO,
            failure_ppm: 0,
        }));
        let bank = SimulatedBank::open(
            SimulatedBankConfig {
                latency: Duration::ZERO,
                confirm_after: Duration::from_millis(1),
                ..SimulatedBankConfig::default()
            },
            sms.clone(),
        )
        .unwrap();
        let wallet = Wallet::new(
            store.clone(),
            WalletConfig {
                sms_resend_after: Duration::ZERO,
                sms_daily_max: 1_000,
                pin_hash_memory_kib: 1024,
                pin_hash_passes: 1,
                reconcile_every: Duration::from_millis(20),
                ..WalletConfig::default()
            },
            Secrets::random(),
            Partners {
                sms: sms.clone(),
                bank: Arc::new(bank),
                fx: Arc::new(SimulatedFx::default()),
            },
        );
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
            wallet,
            payments,
            sms,
            tasks,
            _db: db,
        }
    }

    /// A consumer verified with a resident ID, the PIN [`PIN`], a card, and `balance` CNY
    /// topped up from it.
    pub async fn payer(&self, name: &str, balance: &str) -> Session {
        let phone = phone();
        self.wallet.send_sign_in_code(&phone).await.unwrap();
        let code = self.sms.newest_code_to(&phone).unwrap();
        let device = DeviceInput {
            device_id: None,
            name: Some("test phone".to_owned()),
            public_key: None,
        };
        let signed_in = self.wallet.sign_in(&phone, &code, device).await.unwrap();
        let session = self.wallet.authenticate(&signed_in.token).await.unwrap();
        let identity = IdentityInput::ResidentId {
            name: name.to_owned(),
            number: resident_id("19900307"),
        };
        self.wallet
            .verify_identity(&session, identity)
            .await
            .unwrap();
        self.wallet.set_pin(&session, PIN).await.unwrap();
        let binding = self
            .wallet
            .start_card_binding(&session, &card(ICBC), name)
            .await
            .unwrap();
        let otp = self.sms.newest_code_to(&phone).unwrap();
        let card = self
            .wallet
            .confirm_card_binding(&session, &binding.binding_id, &otp)
            .await
            .unwrap();
        let request = TopUpRequest {
            card_id: card.id,
            amount: balance.to_owned(),
            currency: "CNY".to_owned(),
        };
        let key = format!("top-up-{}", serial());
        let mut funding = self
            .wallet
            .top_up(&session, Some(&key), request)
            .await
            .unwrap();
        for _ in 0..500 {
            if funding.status != "processing" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            funding = self.wallet.funding(&session, &funding.id).await.unwrap();
        }
        assert_eq!(funding.status, "succeeded", "{funding:?}");
        session
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
