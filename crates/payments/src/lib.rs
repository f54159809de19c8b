//! Merchants and QR payments: the acquiring side of the platform.
//!
//! - [`merchants`]: onboarding (legal name, MCC, city, licence, settlement account, fee
//!   rate), stores and terminals, and the Ed25519 keys merchants sign their requests with.
//! - [`signing`]: the signed-request format (string-to-sign, `Authorization` header) and the
//!   platform's signature on notifications. Pure; the CLI's `merchant sign` uses it too.
//! - [`orders`]: the order state machine (`WAIT_BUYER_PAY` → `SUCCESS` → `CLOSED`/`FINISHED`,
//!   `USERPAYING` while the payer confirms), precreate, query, close, cancel, refund.
//! - [`pay`]: the consumer pays a static or dynamic EMVCo code, or the cashier scans the
//!   consumer's payment code ([`paycode`]).
//! - [`events`]: what an order change tells the merchant, through the outbox
//!   (`cashless_outbox`), and the merchant's look at its events; [`sweeper`]: expiry.
//!
//! Every change of an order, its ledger transfers, the payer's limits and statement line, and
//! the outbox event describing it commit in one writer operation (`Store::write`). The
//! consumer's side of a payment (limits, balance, statement) is the wallet's
//! (`cashless_wallet::payer`); this crate never touches a wallet's rows directly.

mod cashier;
pub mod events;
pub mod ids {
    //! The ids of what payments owns, checked where they enter (see `cashless_kernel::ids`).
    cashless_kernel::id_kinds! {
        Merchant(MerchantId) = ("merchant_not_found", "no such merchant");
        Store(StoreId) = ("store_not_found", "no such store of this merchant");
        Terminal(TerminalId) = ("terminal_not_found", "no such terminal of this merchant");
        StaffMember(StaffId) = ("staff_not_found", "no such staff member");
        Payment(PaymentId) = ("payment_not_found", "no such payment");
    }
}
mod lifecycle;
pub mod merchants;
mod nonces;
pub mod order;
pub mod orders;
pub mod pay;
pub mod paycode;
mod qr;
pub mod refusals;
pub mod reports;
pub mod signing;
pub mod staff;
pub mod sweeper;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cashless_kernel::ServiceError;
use cashless_ledger::{AccountId, Currency};
use cashless_outbox::Outbox;
use cashless_store::{CredentialCache, Store, TableRoles};
use cashless_wallet::Wallet;

pub use cashless_kernel::{
    ErrorKind, ServiceError as PaymentError, ServiceResult as PaymentResult,
};
pub use cashless_outbox::PlatformKey;
pub use events::MerchantRecipients;

/// The payments rules that are configuration rather than code. Tests shorten the clocks.
#[derive(Clone, Debug)]
pub struct PaymentsConfig {
    /// The merchant discount rate of a new merchant, in basis points (60 = 0.60%).
    pub fee_rate_bps_default: u32,
    /// Payments up to this amount (CNY minor units) need no PIN …
    pub password_free_max: u64,
    /// … at most this many times per China day.
    pub password_free_daily_max: u32,
    /// The time step of the consumer's payment code.
    pub paycode_step: Duration,
    /// Unknown or wrong payment codes (guesses) one merchant may submit per minute, per
    /// China day, and per terminal per minute (see `paycode`'s module docs for the odds).
    pub paycode_guesses: paycode::GuessLimits,
    /// The largest order a merchant may create unless the operator gave it its own maximum
    /// (fen; capped anyway at the largest single payment the KYC limits allow).
    pub order_amount_max_default: u64,
    /// How long a precreated order waits for payment when the merchant does not say.
    pub order_expiry_default: Duration,
    pub order_expiry_max: Duration,
    /// How long a payment waits in `USERPAYING` for the payer's PIN.
    pub userpaying_timeout: Duration,
    /// How long after payment `cancel` may still refund.
    pub cancel_window: Duration,
    /// How long after payment refunds are possible; then the order is `FINISHED`.
    pub refund_window: Duration,
    /// How far a signed request's timestamp may be from the platform's clock.
    pub signature_skew: Duration,
    /// How long a rotated-out merchant key keeps working.
    pub key_overlap: Duration,
    /// How often the sweeper looks for expired orders.
    pub sweep_every: Duration,
}

impl Default for PaymentsConfig {
    fn default() -> PaymentsConfig {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        PaymentsConfig {
            fee_rate_bps_default: 60,
            password_free_max: 100_000,
            password_free_daily_max: 10,
            paycode_step: Duration::from_secs(60),
            paycode_guesses: paycode::GuessLimits::default(),
            order_amount_max_default: 2_000_000,
            order_expiry_default: minutes(120),
            order_expiry_max: Duration::from_secs(15 * 86_400),
            userpaying_timeout: minutes(5),
            cancel_window: Duration::from_secs(86_400),
            refund_window: Duration::from_secs(365 * 86_400),
            signature_skew: minutes(5),
            key_overlap: Duration::from_secs(86_400),
            sweep_every: Duration::from_millis(500),
        }
    }
}

/// The payments service. Share it as `Arc<Payments>`.
#[derive(Debug)]
pub struct Payments {
    wallet: Arc<Wallet>,
    store: Store,
    config: PaymentsConfig,
    outbox: Arc<Outbox>,
    guesses: Mutex<paycode::Guesses>,
    /// Merchants' API keys by (merchant, key id): see [`CredentialCache`].
    merchant_keys: CredentialCache<(String, String), merchants::ApiKey>,
    /// Signed requests' nonces in the signature window (see `nonces`).
    nonces: Arc<nonces::SeenNonces>,
}

/// Ledger transfer codes of payments.
pub mod codes {
    pub const PAYMENT: u16 = 20;
    pub const FEE: u16 = 21;
    pub const REFUND: u16 = 22;
    pub const FEE_REFUND: u16 = 23;
}

/// The platform's fee income account per currency: `0x3_0000 + ISO numeric`.
pub fn fee_account(currency: Currency) -> AccountId {
    AccountId(0x3_0000 + u128::from(currency.numeric()))
}

impl Payments {
    /// Payments' tables, as the store must know them: merchants' keys and staff sessions vouch
    /// for merchants' callers, the writer keeps merchants' rows (`merchants::load_in`), and
    /// orders are indexed by merchant once folded.
    pub const TABLES: TableRoles = TableRoles {
        credentials: &["merchant_keys", "staff_sessions"],
        cached: &["merchants"],
        folds: &["UPDATE orders SET folded = 1 WHERE folded = 0"],
    };

    pub fn new(wallet: Arc<Wallet>, config: PaymentsConfig, outbox: Arc<Outbox>) -> Arc<Payments> {
        wallet.store().register(Payments::TABLES);
        let nonces = nonces::SeenNonces::new(duration_ns(config.signature_skew).saturating_mul(2));
        Arc::new(Payments {
            store: wallet.store().clone(),
            wallet,
            config,
            outbox,
            guesses: Mutex::new(paycode::Guesses::default()),
            merchant_keys: CredentialCache::new(),
            nonces: Arc::new(nonces),
        })
    }

    pub fn config(&self) -> &PaymentsConfig {
        &self.config
    }

    pub fn wallet(&self) -> &Arc<Wallet> {
        &self.wallet
    }

    /// Where order changes are told (and the platform's signing key).
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Starts the order sweeper (the outbox's dispatcher is the outbox's).
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![self.spawn_sweeper()]
    }
}

pub(crate) fn duration_ns(duration: Duration) -> u64 {
    cashless_kernel::duration_ns(duration)
}

/// The refusal for an id that names nothing of this merchant's.
pub(crate) fn not_found(code: &'static str, what: &str) -> ServiceError {
    ServiceError::not_found(code, format!("no such {what}"))
}
