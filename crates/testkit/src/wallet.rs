//! A wallet with simulated partners and consumers made through it, for the integration tests
//! of the services built on the wallet (the wallet itself, payments, rides). Behind the
//! `wallet` feature, so the store's tests do not build the wallet.

use cashless_kernel::wire;
use cashless_ledger::Currency;
use cashless_wallet::ids::{BindingId, CardId, FundingId};
use std::sync::Arc;
use std::time::Duration;

use cashless_kernel::Secrets;
use cashless_partners::{
    SimulatedBank, SimulatedBankConfig, SimulatedFx, SimulatedSms, SimulatedSmsConfig,
};
use cashless_store::Store;
use cashless_wallet::funding::{FundingView, TopUpRequest};
use cashless_wallet::identity::IdentityInput;
use cashless_wallet::{DeviceInput, Partners, Session, Wallet, WalletConfig};

use crate::people::{ICBC, card, phone, resident_id, serial};

/// The PIN every test consumer sets.
pub const PIN: &str = "258036";

/// Checks of the bank's answers a movement still `processing` waits for.
const FUNDING_POLLS_MAX: u32 = 500;

/// The production rules with clocks a test can wait for and cheap PIN hashing.
pub fn wallet_config() -> WalletConfig {
    WalletConfig {
        sms_resend_after: Duration::ZERO,
        sms_daily_max: 1_000,
        pin_hash_memory_kib: 1024,
        pin_hash_passes: 1,
        reconcile_every: Duration::from_millis(20),
        ..WalletConfig::default()
    }
}

/// A bank that answers at once and confirms movements `confirm_after` their submission
/// (`Duration::ZERO`: a top-up has succeeded when `top_up` answers).
pub fn bank_config(confirm_after: Duration) -> SimulatedBankConfig {
    SimulatedBankConfig {
        latency: Duration::ZERO,
        confirm_after,
        ..SimulatedBankConfig::default()
    }
}

/// The wallet service over `store`, with the simulated partners it talks to.
#[derive(Debug)]
pub struct TestWallet {
    pub wallet: Arc<Wallet>,
    pub sms: Arc<SimulatedSms>,
    pub bank: Arc<SimulatedBank>,
}

/// A consumer signed in on one phone, and what they hold.
#[derive(Debug)]
pub struct Consumer {
    pub phone: String,
    pub session: Session,
    /// A linked card, once [`TestWallet::link_card`] linked one.
    pub card_id: Option<String>,
}

impl TestWallet {
    pub fn new(store: Store, config: WalletConfig, bank: SimulatedBankConfig) -> TestWallet {
        let sms = Arc::new(SimulatedSms::new(SimulatedSmsConfig {
            latency: Duration::ZERO,
            failure_ppm: 0,
        }));
        let bank = Arc::new(SimulatedBank::open(bank, sms.clone()).expect("the bank opens"));
        let wallet = Wallet::new(
            store,
            config,
            Secrets::random(),
            Partners {
                sms: sms.clone(),
                bank: bank.clone(),
                fx: Arc::new(SimulatedFx::default()),
            },
        );
        TestWallet { wallet, sms, bank }
    }

    /// Signs a fresh phone number in (and up) from `device`.
    pub async fn sign_in(&self, device: DeviceInput) -> Consumer {
        let phone = phone();
        self.wallet.send_sign_in_code(&phone).await.unwrap();
        let code = self.sms.newest_code_to(&phone).unwrap();
        let signed_in = self.wallet.sign_in(&phone, &code, device).await.unwrap();
        let session = self.wallet.authenticate(&signed_in.token).await.unwrap();
        Consumer {
            phone,
            session,
            card_id: None,
        }
    }

    /// A consumer on a phone without a key, with `name` verified by a resident ID card (L1).
    pub async fn verified(&self, name: &str) -> Consumer {
        let consumer = self.sign_in(phone_device(None)).await;
        self.verify(&consumer, name).await;
        consumer
    }

    pub async fn verify(&self, consumer: &Consumer, name: &str) {
        let identity = IdentityInput::ResidentId {
            name: name.to_owned(),
            number: resident_id("19900307"),
        };
        self.wallet
            .verify_identity(&consumer.session, identity)
            .await
            .unwrap();
    }

    /// Links a fresh ICBC card held by `name` (the verified name), confirmed with the bank's
    /// code; answers its id.
    pub async fn link_card(&self, consumer: &mut Consumer, name: &str) -> String {
        let binding = self
            .wallet
            .start_card_binding(&consumer.session, &card(ICBC), name)
            .await
            .unwrap();
        let otp = self.sms.newest_code_to(&consumer.phone).unwrap();
        let card = self
            .wallet
            .confirm_card_binding(
                &consumer.session,
                &BindingId::parse(&binding.binding_id).unwrap(),
                &otp,
            )
            .await
            .unwrap();
        consumer.card_id = Some(card.id.clone());
        card.id
    }

    /// Tops up `amount` CNY from the consumer's card and waits until the bank has answered.
    pub async fn top_up(&self, consumer: &Consumer, amount: &str) -> FundingView {
        let request = TopUpRequest {
            card_id: CardId::parse(consumer.card_id.as_deref().expect("a linked card")).unwrap(),
            amount: wire::money(amount, Currency::CNY).unwrap(),
        };
        let key = format!("top-up-{}", serial());
        let funding = self
            .wallet
            .top_up(&consumer.session, Some(&key), request)
            .await
            .unwrap();
        self.settled(&consumer.session, funding).await
    }

    /// The movement once the bank has answered (the reconciler, if running, settles it).
    pub async fn settled(&self, session: &Session, mut funding: FundingView) -> FundingView {
        for _ in 0..FUNDING_POLLS_MAX {
            if funding.status != "processing" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.wallet.reconcile_once().await.unwrap();
            let id = FundingId::parse(&funding.id).unwrap();
            funding = self.wallet.funding(session, &id).await.unwrap();
        }
        funding
    }

    /// A consumer verified with a resident ID, the PIN [`PIN`], a card, and `balance` CNY
    /// topped up from it.
    pub async fn payer(&self, name: &str, balance: &str) -> Consumer {
        let mut consumer = self.verified(name).await;
        self.wallet.set_pin(&consumer.session, PIN).await.unwrap();
        self.link_card(&mut consumer, name).await;
        let funding = self.top_up(&consumer, balance).await;
        assert_eq!(funding.status, "succeeded", "{funding:?}");
        consumer
    }

    /// What the consumer can spend now, in fen.
    pub async fn available(&self, consumer: &Consumer) -> u64 {
        let (available, _incoming) = self
            .wallet
            .balance_cny(&consumer.session.user_id)
            .await
            .unwrap();
        available
    }
}

/// A phone signing in, with the Ed25519 public key (hex) it will sign codes with, if any.
pub fn phone_device(public_key: Option<String>) -> DeviceInput {
    DeviceInput {
        device_id: None,
        name: Some("test phone".to_owned()),
        public_key,
    }
}
