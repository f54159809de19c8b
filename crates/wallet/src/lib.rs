//! The consumer wallet: what turns the ledger into money a person can hold.
//!
//! - [`auth`]: sign-in with an SMS code, sessions and devices.
//! - [`pin`]: the payment PIN (argon2id with the platform's pepper), lock-out after failures.
//! - [`confirm`]: confirming a payment with the PIN or with the device's key.
//! - [`identity`]: real-name verification with a resident ID card or a passport.
//! - [`card_pay`]: paying by card when the balance is short, if the owner chose a card.
//! - [`cards`]: linking bank cards, confirmed by the bank's one-time code.
//! - [`funding`]: top-ups and withdrawals through the bank, as pending ledger transfers posted
//!   or voided when the bank answers, and the reconciler that finishes them after a restart.
//! - [`statement`]: the profile, the statement, and the daily outflow limits.
//! - [`payer`]: the consumer's side of a payment, for the services that take money from a
//!   wallet (merchant payments): limits, balance refusals, statement lines.
//!
//! Every rule runs inside one writer operation (see `cashless_store::Store::write`), so the
//! rows and the ledger transfers of one request commit together or not at all. Outside parties
//! (SMS, bank, FX) are called outside the writer, never while holding it.

pub mod auth;
pub mod card_pay;
pub mod cards;
pub mod confirm;
pub mod funding;
pub mod identity;
pub mod ids {
    //! The ids of what the wallet owns, checked where they enter (see `cashless_kernel::ids`).
    cashless_kernel::id_kinds! {
        Card(CardId) = ("card_not_found", "no such card linked to this account");
        Binding(BindingId) = ("binding_not_found", "no such card binding on this account");
        Device(DeviceId) = ("device_not_found", "no such device on this account");
        Funding(FundingId) = ("funding_not_found", "no such top-up or withdrawal");
    }
}
pub mod payer;
pub mod pin;
pub mod statement;
mod users;

use std::sync::Arc;
use std::time::Duration;

use cashless_consumer::Limits;
use cashless_kernel::{ErrorKind, ServiceError, ServiceResult, now_ns, secs_ceil};
use cashless_kernel::{Ids, Secrets, duration_ns, idempotency, secrets, signatures, wire};
use cashless_ledger::{Account, AccountFlags, AccountId, AccountKind, Currency};
use cashless_partners::{Bank, FxRates, SmsGateway};
use cashless_store::{CredentialCache, Store, TableRoles, WriteTx};

pub use auth::{CodeSent, DeviceInput, DeviceView, Session, SignedIn};
pub use card_pay::CardFundingError;

/// The wallet's rules that are configuration rather than code. Tests shorten the clocks.
#[derive(Clone, Debug)]
pub struct WalletConfig {
    /// How long an SMS code stays valid.
    pub sms_code_validity: Duration,
    /// How soon a phone may ask for another code.
    pub sms_resend_after: Duration,
    /// Codes a phone may ask for per China day.
    pub sms_daily_max: u32,
    /// Wrong entries one code allows.
    pub sms_attempts_max: u32,
    pub session_lifetime: Duration,
    /// Wrong PINs in a row before PIN payments lock.
    pub pin_attempts_max: u32,
    pub pin_lock: Duration,
    /// argon2id memory (KiB) and passes for PIN hashes.
    pub pin_hash_memory_kib: u32,
    pub pin_hash_passes: u32,
    pub limits: Limits,
    /// A top-up the bank says it never received is given up after this long (see
    /// `Wallet::reconcile_once`).
    pub funding_timeout: Duration,
    /// How often the reconciler asks the bank about movements in flight.
    pub reconcile_every: Duration,
    /// The largest top-up, in CNY minor units (after conversion).
    pub top_up_single_max: u64,
    /// How long a payment waits for the bank to confirm the card debit that covers a short
    /// balance (see `Wallet::fund_from_payment_card`).
    pub card_fallback_wait: Duration,
}

impl Default for WalletConfig {
    fn default() -> WalletConfig {
        WalletConfig {
            sms_code_validity: Duration::from_secs(5 * 60),
            sms_resend_after: Duration::from_secs(60),
            sms_daily_max: 10,
            sms_attempts_max: 5,
            session_lifetime: Duration::from_secs(30 * 86_400),
            pin_attempts_max: 5,
            pin_lock: Duration::from_secs(3 * 3600),
            // OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
            pin_hash_memory_kib: 19 * 1024,
            pin_hash_passes: 2,
            limits: Limits::default(),
            funding_timeout: Duration::from_secs(15 * 60),
            reconcile_every: Duration::from_secs(1),
            top_up_single_max: 5_000_000,
            card_fallback_wait: Duration::from_secs(10),
        }
    }
}

/// The outside parties the wallet talks to.
#[derive(Clone)]
pub struct Partners {
    pub sms: Arc<dyn SmsGateway>,
    pub bank: Arc<dyn Bank>,
    pub fx: Arc<dyn FxRates>,
}

impl std::fmt::Debug for Partners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Partners")
    }
}

/// The wallet service. Share it as `Arc<Wallet>`.
#[derive(Debug)]
pub struct Wallet {
    store: Store,
    config: WalletConfig,
    secrets: Secrets,
    partners: Partners,
    ids: Ids,
    /// PIN hashes in progress at once: each takes `pin_hash_memory_kib`, so a burst of
    /// requests must queue rather than exhaust memory.
    pin_hashing: tokio::sync::Semaphore,
    /// Sessions by token hash, and payment devices' keys by (user, device): see
    /// [`cashless_store::CredentialCache`].
    sessions: CredentialCache<String, auth::LiveSession>,
    device_keys: CredentialCache<(String, String), ed25519_dalek::VerifyingKey>,
    /// Ed25519 checks of requests that arrive together, verified together.
    signatures: Arc<signatures::Verifier>,
}

/// Ledger transfer codes of the wallet's movements.
pub mod codes {
    pub const TOP_UP: u16 = 10;
    pub const WITHDRAWAL: u16 = 11;
    /// The card-currency leg of a foreign-currency top-up.
    pub const FX_TOP_UP: u16 = 12;
}

/// The platform's own accounts, one per role and currency, at well-known ids:
/// `0x1_0000 + ISO numeric` is bank clearing, `0x2_0000 + ISO numeric` the FX position.
pub mod platform {
    use cashless_ledger::{AccountId, Currency};

    /// What the banks owe the platform (debited by top-ups, credited by payouts).
    pub fn bank_clearing(currency: Currency) -> AccountId {
        AccountId(0x1_0000 + u128::from(currency.numeric()))
    }

    /// The platform's position in a currency: foreign money bought, CNY sold.
    pub fn fx(currency: Currency) -> AccountId {
        AccountId(0x2_0000 + u128::from(currency.numeric()))
    }
}

impl Wallet {
    /// The wallet's tables, as the store must know them: sessions and device keys vouch for
    /// consumers (cached by `authenticate` and device confirmations), the writer keeps payers'
    /// rows (`payer::payer_in`), and statement lines are indexed by user once folded.
    pub const TABLES: TableRoles = TableRoles {
        credentials: &["sessions", "devices"],
        cached: &["users"],
        folds: &["UPDATE activity SET folded = 1 WHERE folded = 0"],
    };

    pub fn new(
        store: Store,
        config: WalletConfig,
        secrets: Secrets,
        partners: Partners,
    ) -> Arc<Wallet> {
        store.register(Wallet::TABLES);
        Arc::new(Wallet {
            store,
            config,
            secrets,
            partners,
            ids: Ids::default(),
            pin_hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            ),
            sessions: CredentialCache::new(),
            signatures: signatures::Verifier::new(),
            device_keys: CredentialCache::new(),
        })
    }

    pub fn config(&self) -> &WalletConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// A fresh, unguessable, time-ordered id.
    pub fn new_id(&self) -> u128 {
        self.ids.new_id()
    }

    /// The Ed25519 verifier shared by every signed request (see [`signatures`]).
    pub fn signatures(&self) -> &Arc<signatures::Verifier> {
        &self.signatures
    }

    /// [`Wallet::new_id`] as a UUID string (the form ids take in rows and on the wire).
    pub fn new_id_string(&self) -> String {
        self.ids.new_id_string()
    }
}

/// Creates a platform account the first time it is needed.
pub fn ensure_account(
    tx: &mut WriteTx<'_, '_>,
    id: AccountId,
    currency: Currency,
    kind: AccountKind,
) -> ServiceResult<()> {
    if tx.account(id).is_some() {
        return Ok(());
    }
    let result = tx.create_accounts(&[Account::new(id, currency, kind, AccountFlags::NONE)]);
    match result.first() {
        Some(result) if result.is_success() => Ok(()),
        other => Err(ServiceError::internal(format!(
            "cannot create platform account {id}: {other:?}"
        ))),
    }
}
