//! Merchants: onboarding, stores and terminals, request-signing keys, and the authentication
//! of signed requests.
//!
//! A merchant is onboarded by the operator with its legal name, display name, MCC (ISO 18245),
//! city, business licence (the 18-character unified social credit code, GB 32100, checked),
//! settlement bank account and fee rate. Each merchant gets a ledger account (kind `Merchant`)
//! that payments credit and refunds debit; it can never go below zero.
//!
//! Keys: a merchant has at most [`KEYS_ACTIVE_MAX`] keys at once. Adding one (rotation) gives
//! every older key an expiry `key_overlap` away, so requests signed with the old key keep
//! working while the merchant's servers move to the new one.

use cashless_emvqr::CashlessMerchant;
use cashless_kernel::{ServiceError, ServiceResult, rfc3339};
use cashless_ledger::{Account, AccountFlags, AccountId, AccountKind, Currency, Money};
use cashless_store::{Conn, DbError, Param, Row, WriteTx};
use serde::Serialize;

use crate::ids::{MerchantId, StoreId};
use crate::nonces::SeenNonces;
use crate::qr;
use crate::signing::{self, Authorization};
use crate::{Payments, duration_ns, not_found};

pub const KEYS_ACTIVE_MAX: usize = 3;
pub const STORES_MAX: i64 = 1_000;
pub const TERMINALS_MAX: i64 = 10_000;
/// EMVCo's limits for the merchant name (ID 59) and city (ID 60) in a QR code.
pub const DISPLAY_NAME_CHARS_MAX: usize = 25;
pub const CITY_CHARS_MAX: usize = 15;
/// The highest fee rate the platform will set: 10%.
pub const FEE_RATE_BPS_MAX: u32 = 1_000;

#[derive(Clone, Debug, Default)]
pub struct MerchantInput {
    pub legal_name: String,
    pub display_name: String,
    pub chinese_name: Option<String>,
    pub mcc: String,
    pub city: String,
    pub licence_number: String,
    pub settlement_bank: String,
    pub settlement_account: String,
    pub fee_rate_bps: Option<u32>,
    pub notify_url: Option<String>,
    pub public_key: Option<String>,
    /// The largest order this merchant may create, in fen (`None`: the platform's default).
    pub order_amount_max: Option<u64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub public_key: String,
    /// `full`, or `till`: a key kept on a till, which can take payments and look them up but
    /// not refund, change keys or notification settings.
    pub scope: String,
    pub created_at: String,
    /// When a rotated-out key stops working; absent for current keys.
    pub expires_at: Option<String>,
    /// The merchant key that created this one or last re-confirmed it; absent when the
    /// operator did. Revoking that key revokes this one (see [`Payments::revoke_key`]).
    pub granted_by: Option<String>,
}

/// A merchant's API key as request checks keep it in memory: live until `expires_ns` (set
/// when a rotation retires it), if any.
#[derive(Clone, Debug)]
pub(crate) struct ApiKey {
    key: ed25519_dalek::VerifyingKey,
    scope: KeyScope,
    expires_ns: Option<i64>,
}

/// What a caller may do: a signing key's scope, or a signed-in staff member's role.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyScope {
    /// The merchant's own key: everything.
    Full,
    /// A manager signed in to the till: also refunds, cancels and notification retries, but
    /// not keys, staff or notification settings.
    Manager,
    /// A till key or a cashier: take payments and look them up.
    Till,
    /// A full key rotated out and still in its overlap: what a till key does, nothing more,
    /// so a key being retired cannot manage keys, staff or settings.
    Retired,
}

impl KeyScope {
    pub fn name(self) -> &'static str {
        match self {
            KeyScope::Full => "full",
            KeyScope::Manager => "manager",
            KeyScope::Till => "till",
            KeyScope::Retired => "retired",
        }
    }
}

/// Till keys a merchant may have at once.
pub const TILL_KEYS_MAX: i64 = 100;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TerminalView {
    pub id: String,
    pub store_id: String,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoreView {
    pub id: String,
    pub name: String,
    pub address: String,
    /// The store's static EMVCo code: print it; customers scan it and type the amount.
    pub static_code: String,
    pub terminals: Vec<TerminalView>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantView {
    pub id: String,
    pub legal_name: String,
    pub display_name: String,
    pub chinese_name: Option<String>,
    #[schema(example = "5812")]
    pub mcc: String,
    pub city: String,
    pub licence_number: String,
    pub settlement_bank: String,
    /// Masked: `••••6789`.
    pub settlement_account: String,
    /// The merchant discount rate, e.g. `"0.60%"`.
    pub fee_rate: String,
    pub fee_rate_bps: u32,
    pub notify_url: Option<String>,
    /// The merchant's static EMVCo code (no store).
    pub static_code: String,
    pub stores: Vec<StoreView>,
    pub keys: Vec<KeyView>,
    pub created_at: String,
    /// The largest order the merchant may create (see `order_amount_max` at onboarding).
    pub order_amount_max: cashless_kernel::wire::Amount,
}

/// What bounds an order's amount: the merchant's maximum (or the default), and the largest
/// single payment any payer may make.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OrderLimits {
    merchant_default: u64,
    payable: u64,
}

impl OrderLimits {
    pub(crate) fn max(self, merchant: &MerchantRow) -> u64 {
        merchant
            .order_amount_max
            .unwrap_or(self.merchant_default)
            .min(self.payable)
    }

    /// Refuses an order above the merchant's maximum or above what anyone may pay at once,
    /// before it is created.
    pub(crate) fn check(self, merchant: &MerchantRow, amount: Money) -> ServiceResult<()> {
        if amount.currency() != Currency::CNY {
            return Err(ServiceError::unprocessable(
                "currency_not_supported",
                format!(
                    "orders are in CNY; {} is not accepted",
                    amount.currency().code()
                ),
            ));
        }
        let amount = amount
            .unsigned()
            .map_err(cashless_kernel::wire::money_fault)?;
        let cny = |minor| cashless_ledger::format_amount(minor, Currency::CNY);
        let details = |limit| serde_json::json!({ "limit": cashless_kernel::wire::Amount::new(limit, Currency::CNY) });
        if amount > self.payable {
            return Err(ServiceError::unprocessable(
                "amount_above_payment_max",
                format!(
                    "no payer may pay more than {} CNY at once: split the order",
                    cny(self.payable)
                ),
            )
            .with_details(details(self.payable)));
        }
        let max = self.max(merchant);
        if amount > max {
            return Err(ServiceError::unprocessable(
                "amount_above_order_max",
                format!("one order may be at most {} CNY at this merchant", cny(max)),
            )
            .with_details(details(max)));
        }
        Ok(())
    }
}

/// A merchant's row, as payments need it.
#[derive(Clone, Debug)]
pub(crate) struct MerchantRow {
    pub id: String,
    pub display_name: String,
    pub chinese_name: Option<String>,
    pub mcc: String,
    pub city: String,
    pub fee_rate_bps: u32,
    pub notify_url: Option<String>,
    pub account: AccountId,
    /// The merchant's own order maximum, if it has one (see [`Payments::order_amount_max`]).
    pub order_amount_max: Option<u64>,
}

impl MerchantRow {
    /// The merchant (or one of its stores) as its EMVCo codes name it.
    pub(crate) fn emv(&self, store_id: Option<&str>) -> CashlessMerchant {
        let mut code = CashlessMerchant::new(&self.id, &self.display_name, &self.city, &self.mcc);
        code.store_id = store_id.map(str::to_owned);
        code.chinese_name = self.chinese_name.clone();
        code
    }
}

const COLUMNS: &str = "id, display_name, chinese_name, mcc, city, fee_rate_bps, notify_url, \
                       account_id, order_amount_max";

fn decode(row: &Row) -> Result<MerchantRow, DbError> {
    Ok(MerchantRow {
        id: row.text(0)?.to_owned(),
        display_name: row.text(1)?.to_owned(),
        chinese_name: row.opt_text(2)?.map(str::to_owned),
        mcc: row.text(3)?.to_owned(),
        city: row.text(4)?.to_owned(),
        fee_rate_bps: u32::try_from(row.int(5)?).unwrap_or(0),
        notify_url: row.opt_text(6)?.map(str::to_owned),
        account: AccountId(row.u128(7)?),
        order_amount_max: row.opt_int(8)?.and_then(|max| u64::try_from(max).ok()),
    })
}

pub(crate) fn load(conn: &mut Conn, id: &str) -> Result<Option<MerchantRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM merchants WHERE id = $1"),
        &[Param::Text(id)],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

/// [`load`] inside a writer operation, through the writer's row cache (see
/// [`WriteTx::cached`]): a payment's merchant without a statement.
pub(crate) fn load_in(tx: &mut WriteTx<'_, '_>, id: &str) -> Result<Option<MerchantRow>, DbError> {
    tx.cached("merchants", id, |conn| load(conn, id))
}

pub(crate) fn merchant_not_found() -> ServiceError {
    not_found("merchant_not_found", "merchant")
}

/// Whether a store belongs to the merchant.
pub(crate) fn store_of(
    conn: &mut Conn,
    merchant_id: &str,
    store_id: &str,
) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM stores WHERE id = $1 AND merchant_id = $2",
            &[Param::Text(store_id), Param::Text(merchant_id)],
        )?
        .is_some())
}

/// The store of a terminal of the merchant, if the terminal is the merchant's.
pub(crate) fn terminal_store(
    conn: &mut Conn,
    merchant_id: &str,
    terminal_id: &str,
) -> Result<Option<String>, DbError> {
    conn.query_opt(
        "SELECT store_id FROM terminals WHERE id = $1 AND merchant_id = $2",
        &[Param::Text(terminal_id), Param::Text(merchant_id)],
    )?
    .map(|row| row.text(0).map(str::to_owned))
    .transpose()
}

/// The unified social credit code's check character (GB 32100-2015), or `None` if the first 17
/// characters are not from its alphabet.
pub fn uscc_check_character(first17: &str) -> Option<char> {
    const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    if first17.chars().count() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, weight) in first17.chars().zip(WEIGHTS) {
        sum += ALPHABET.find(c)? as u32 * weight;
    }
    ALPHABET.chars().nth(((31 - sum % 31) % 31) as usize)
}

/// A merchant's stores with their terminals and static codes, from their rows.
fn store_views(
    merchant: &MerchantRow,
    stores: &[Row],
    terminals: &[Row],
) -> ServiceResult<Vec<StoreView>> {
    let terminals = terminals
        .iter()
        .map(|t| {
            Ok(TerminalView {
                id: t.text(0)?.to_owned(),
                store_id: t.text(1)?.to_owned(),
                label: t.text(2)?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let mut views = Vec::with_capacity(stores.len());
    for store in stores {
        let store_id = store.text(0)?.to_owned();
        views.push(StoreView {
            static_code: qr::static_code(merchant.emv(Some(&store_id)))?,
            terminals: terminals
                .iter()
                .filter(|t| t.store_id == store_id)
                .cloned()
                .collect(),
            id: store_id,
            name: store.text(1)?.to_owned(),
            address: store.text(2)?.to_owned(),
        });
    }
    Ok(views)
}

/// A merchant's keys still working at `now`, from their rows.
fn key_views(keys: &[Row], now: u64) -> Result<Vec<KeyView>, DbError> {
    let mut views = Vec::new();
    for key in keys {
        let expires = key.opt_int(3)?.map(|ns| ns as u64);
        if expires.is_some_and(|expires| expires <= now) {
            continue;
        }
        views.push(KeyView {
            id: key.text(0)?.to_owned(),
            public_key: key.text(1)?.to_owned(),
            scope: key.text(4)?.to_owned(),
            created_at: rfc3339(key.int(2)? as u64),
            expires_at: expires.map(rfc3339),
            granted_by: key.opt_text(5)?.map(str::to_owned),
        });
    }
    Ok(views)
}

fn bad(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid(code, message)
}

/// A required text field: trimmed, 1 to `max` characters.
fn text_field(value: &str, field: &str, max: usize) -> ServiceResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(bad(
            "field_invalid",
            format!("{field} must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The input, checked and normalized.
fn check(
    input: MerchantInput,
    default_fee_bps: u32,
    private_allowed: bool,
) -> ServiceResult<MerchantInput> {
    let mcc = input.mcc.trim();
    if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) || mcc == "0000" {
        return Err(bad(
            "mcc_invalid",
            "mcc is a 4-digit ISO 18245 merchant category code, e.g. 5812",
        ));
    }
    let display_name = text_field(&input.display_name, "display_name", DISPLAY_NAME_CHARS_MAX)?;
    if !display_name.is_ascii() {
        return Err(bad(
            "field_invalid",
            "display_name is in Latin letters (it goes in the QR code's ID 59); put the Chinese name in chinese_name",
        ));
    }
    let licence = input.licence_number.trim().to_ascii_uppercase();
    // ASCII first: a multi-byte character would make byte 17 no place to cut.
    let licence_ok = licence.len() == 18
        && licence.is_ascii()
        && uscc_check_character(&licence[..17]) == licence.chars().nth(17);
    if !licence_ok {
        return Err(bad(
            "licence_number_invalid",
            "licence_number is the 18-character unified social credit code (GB 32100) with a valid check character",
        ));
    }
    let account = input.settlement_account.trim().replace(' ', "");
    if !(8..=30).contains(&account.len()) || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "settlement_account_invalid",
            "settlement_account is 8 to 30 digits",
        ));
    }
    let fee_rate_bps = input.fee_rate_bps.unwrap_or(default_fee_bps);
    if fee_rate_bps > FEE_RATE_BPS_MAX {
        return Err(bad("fee_rate_invalid", "fee_rate_bps is 0 to 1000 (10%)"));
    }
    let chinese_name = input
        .chinese_name
        .as_deref()
        .map(|name| text_field(name, "chinese_name", DISPLAY_NAME_CHARS_MAX))
        .transpose()?;
    let public_key = input
        .public_key
        .as_deref()
        .map(|key| {
            signing::parse_public_key(key)
                .map(|key| signing::hex(key.as_bytes()))
                .map_err(|error| bad(error.code, error.message))
        })
        .transpose()?;
    Ok(MerchantInput {
        legal_name: text_field(&input.legal_name, "legal_name", 128)?,
        display_name,
        chinese_name,
        mcc: mcc.to_owned(),
        city: text_field(&input.city, "city", CITY_CHARS_MAX)?,
        licence_number: licence,
        settlement_bank: text_field(&input.settlement_bank, "settlement_bank", 64)?,
        settlement_account: account,
        fee_rate_bps: Some(fee_rate_bps),
        notify_url: input
            .notify_url
            .as_deref()
            .map(|url| cashless_outbox::destination::check_url(url, private_allowed))
            .transpose()?,
        public_key,
        order_amount_max: input.order_amount_max,
    })
}

/// A signed request that passed the signature check. Its nonce must be used up before any
/// work is done: by [`Payments::claim_nonce`] in a write of its own, or by the operation
/// itself, first thing in its write ([`MerchantCaller::claim_in`]), which saves a commit.
#[derive(Clone, Debug)]
pub struct MerchantCaller {
    pub merchant_id: String,
    pub key_id: String,
    pub nonce: String,
    nonce_claimed: bool,
    /// What the signing key (or the signed-in staff member) may do.
    pub scope: KeyScope,
    /// The staff member signed in, when the caller is one rather than a key.
    pub staff_id: Option<String>,
}

impl MerchantCaller {
    /// A signed-in staff member: no signature, so no nonce to use up (the session is the
    /// credential, and every write is idempotent by its own key).
    pub(crate) fn staff(merchant_id: String, staff_id: String, scope: KeyScope) -> MerchantCaller {
        MerchantCaller {
            merchant_id,
            key_id: String::new(),
            nonce: String::new(),
            nonce_claimed: true,
            scope,
            staff_id: Some(staff_id),
        }
    }

    /// Who is asking, as refunds record it: `key:<key id>` or `staff:<staff id>`.
    pub fn actor(&self) -> String {
        match &self.staff_id {
            Some(staff) => format!("staff:{staff}"),
            None => format!("key:{}", self.key_id),
        }
    }

    /// Only the merchant's full key: keys, staff and notification settings.
    pub fn require_full(&self) -> ServiceResult<()> {
        match self.scope {
            KeyScope::Full => Ok(()),
            KeyScope::Manager | KeyScope::Till => Err(ServiceError::forbidden(
                "key_scope",
                "only the merchant's full key may do this: sign it with that key",
            )),
            KeyScope::Retired => Err(retired()),
        }
    }

    /// The full key or a manager: refunds, cancels, notification retries.
    pub fn require_back_office(&self) -> ServiceResult<()> {
        match self.scope {
            KeyScope::Full | KeyScope::Manager => Ok(()),
            KeyScope::Till => Err(ServiceError::forbidden(
                "key_scope",
                "a till takes payments and looks them up; a manager or the merchant's full key may do this",
            )),
            KeyScope::Retired => Err(retired()),
        }
    }

    /// The key that signed this request, when it may grant (till keys, staff): the
    /// merchant's current full key.
    pub(crate) fn granting_key(&self) -> ServiceResult<String> {
        self.require_full()?;
        Ok(self.key_id.clone())
    }

    /// Uses up the nonce as the first step of the operation's write, if no one did yet. It
    /// sticks even if the operation then fails: a failed request cannot be replayed either.
    pub(crate) fn claim_in(
        &mut self,
        tx: &mut WriteTx<'_, '_>,
        nonces: &SeenNonces,
    ) -> ServiceResult<()> {
        if !self.nonce_claimed {
            let now = tx.now_ns();
            nonces.claim(tx.conn_kept()?, &self.merchant_id, &self.nonce, now)?;
            self.nonce_claimed = true;
        }
        Ok(())
    }
}

fn retired() -> ServiceError {
    ServiceError::forbidden(
        "key_rotated_out",
        "this key was rotated out: until it expires it only takes payments and looks them up; sign this with the merchant's current key",
    )
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(cashless_kernel::ErrorKind::Unauthorized, code, message)
}

impl Payments {
    /// Onboards a merchant (operator).
    pub async fn onboard(&self, input: MerchantInput) -> ServiceResult<MerchantView> {
        let input = check(
            input,
            self.config.fee_rate_bps_default,
            self.outbox.config().private_allowed,
        )?;
        self.check_order_amount_max(input.order_amount_max)?;
        let id = self.wallet.new_id_string();
        let account = AccountId(self.wallet.new_id());
        let merchant_id = id.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let taken = tx.conn()?.query_opt(
                    "SELECT 1 FROM merchants WHERE licence_number = $1",
                    &[Param::Text(&input.licence_number)],
                )?;
                if taken.is_some() {
                    return Err(ServiceError::conflict(
                        "licence_number_taken",
                        "a merchant with this licence number is already onboarded",
                    ));
                }
                let created = tx.create_accounts(&[Account::new(
                    account,
                    Currency::CNY,
                    AccountKind::Merchant,
                    AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                )]);
                if !created.first().is_some_and(|result| result.is_success()) {
                    return Err(ServiceError::internal(format!("merchant account: {created:?}")));
                }
                let account_bytes = account.0.to_be_bytes();
                tx.conn()?.execute(
                    "INSERT INTO merchants (id, legal_name, display_name, chinese_name, mcc, city, \
                     licence_number, settlement_bank, settlement_account, fee_rate_bps, notify_url, \
                     account_id, created_ns, order_amount_max) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
                    &[
                        Param::Text(&merchant_id),
                        Param::Text(&input.legal_name),
                        Param::Text(&input.display_name),
                        Param::opt_text(input.chinese_name.as_deref()),
                        Param::Text(&input.mcc),
                        Param::Text(&input.city),
                        Param::Text(&input.licence_number),
                        Param::Text(&input.settlement_bank),
                        Param::Text(&input.settlement_account),
                        Param::Int(i64::from(input.fee_rate_bps.unwrap_or(0))),
                        Param::opt_text(input.notify_url.as_deref()),
                        Param::Blob(&account_bytes),
                        Param::Int(now as i64),
                        match input.order_amount_max.map(i64::try_from) {
                            Some(Ok(max)) => Param::Int(max),
                            _ => Param::Null,
                        },
                    ],
                )?;
                if let Some(key) = &input.public_key {
                    insert_key(tx.conn()?, &merchant_id, key, KeyScope::Full, None, now)?;
                }
                Ok(())
            })
            .await?;
        self.merchant_view(&id).await
    }

    /// Everything about a merchant: stores, terminals, keys, static codes.
    /// Whether a merchant with this business licence number is onboarded.
    pub async fn licence_onboarded(&self, licence_number: &str) -> ServiceResult<bool> {
        let licence_number = licence_number.to_owned();
        Ok(self
            .store
            .read(move |conn| {
                Ok(conn
                    .query_opt(
                        "SELECT 1 FROM merchants WHERE licence_number = $1",
                        &[Param::Text(&licence_number)],
                    )?
                    .is_some())
            })
            .await?)
    }

    pub async fn merchant(&self, id: &MerchantId) -> ServiceResult<MerchantView> {
        self.merchant_view(id.as_str()).await
    }

    /// A merchant's view by an id of ours.
    async fn merchant_view(&self, id: &str) -> ServiceResult<MerchantView> {
        let id = id.to_owned();
        let (merchant, stores, terminals, keys) = self
            .store
            .read(move |conn| {
                let merchant = conn.query_opt(
                    "SELECT id, legal_name, display_name, chinese_name, mcc, city, licence_number, \
                     settlement_bank, settlement_account, fee_rate_bps, notify_url, created_ns, \
                     order_amount_max FROM merchants WHERE id = $1",
                    &[Param::Text(&id)],
                )?;
                let stores = conn.query(
                    "SELECT id, name, address FROM stores WHERE merchant_id = $1 ORDER BY created_ns, id",
                    &[Param::Text(&id)],
                )?;
                let terminals = conn.query(
                    "SELECT id, store_id, label FROM terminals WHERE merchant_id = $1 ORDER BY created_ns, id",
                    &[Param::Text(&id)],
                )?;
                let keys = conn.query(
                    "SELECT id, public_key, created_ns, expires_ns, scope, granted_by FROM merchant_keys \
                     WHERE merchant_id = $1 ORDER BY created_ns, id",
                    &[Param::Text(&id)],
                )?;
                Ok((merchant, stores, terminals, keys))
            })
            .await?;
        let row = merchant.ok_or_else(merchant_not_found)?;
        let now = cashless_kernel::now_ns();
        let merchant_row = MerchantRow {
            id: row.text(0)?.to_owned(),
            display_name: row.text(2)?.to_owned(),
            chinese_name: row.opt_text(3)?.map(str::to_owned),
            mcc: row.text(4)?.to_owned(),
            city: row.text(5)?.to_owned(),
            fee_rate_bps: u32::try_from(row.int(9)?).unwrap_or(0),
            notify_url: row.opt_text(10)?.map(str::to_owned),
            account: AccountId(0),
            order_amount_max: row.opt_int(12)?.and_then(|max| u64::try_from(max).ok()),
        };
        let store_views = store_views(&merchant_row, &stores, &terminals)?;
        let key_views = key_views(&keys, now)?;
        let account = row.text(8)?;
        let bps = merchant_row.fee_rate_bps;
        Ok(MerchantView {
            static_code: qr::static_code(merchant_row.emv(None))?,
            id: merchant_row.id.clone(),
            legal_name: row.text(1)?.to_owned(),
            display_name: merchant_row.display_name.clone(),
            chinese_name: merchant_row.chinese_name.clone(),
            mcc: merchant_row.mcc.clone(),
            city: merchant_row.city.clone(),
            licence_number: row.text(6)?.to_owned(),
            settlement_bank: row.text(7)?.to_owned(),
            settlement_account: format!("••••{}", &account[account.len().saturating_sub(4)..]),
            fee_rate: format!("{}.{:02}%", bps / 100, bps % 100),
            fee_rate_bps: bps,
            order_amount_max: cashless_kernel::wire::Amount::new(
                self.order_amount_max(&merchant_row),
                Currency::CNY,
            ),
            notify_url: merchant_row.notify_url,
            stores: store_views,
            keys: key_views,
            created_at: rfc3339(row.int(11)? as u64),
        })
    }

    /// The largest order `merchant` may create: its own maximum or the platform's default,
    /// and never more than any payer may pay at once (the highest KYC level's single-payment
    /// limit), since no one could pay it.
    pub(crate) fn order_amount_max(&self, merchant: &MerchantRow) -> u64 {
        self.order_limits().max(merchant)
    }

    /// Refuses an order maximum no payer could ever reach.
    fn check_order_amount_max(&self, max: Option<u64>) -> ServiceResult<()> {
        let payable = self.wallet.config().limits.largest_single();
        match max {
            Some(max) if max > payable => Err(ServiceError::invalid(
                "order_amount_max_invalid",
                format!(
                    "order_amount_max is at most {} CNY, the most any payer may pay at once",
                    cashless_ledger::format_amount(payable, Currency::CNY)
                ),
            )
            .with_details(serde_json::json!({
                "limit": cashless_kernel::wire::Amount::new(payable, Currency::CNY)
            }))),
            _ => Ok(()),
        }
    }

    /// Sets (or, with `None`, clears back to the platform's default) the largest order a
    /// merchant may create (operator).
    pub async fn set_order_amount_max(
        &self,
        merchant_id: &MerchantId,
        max: Option<u64>,
    ) -> ServiceResult<MerchantView> {
        self.check_order_amount_max(max)?;
        let merchant_id = self.existing_merchant(merchant_id).await?;
        let id = merchant_id.clone();
        self.store
            .write(move |tx| {
                tx.conn()?.execute(
                    "UPDATE merchants SET order_amount_max = $2 WHERE id = $1",
                    &[
                        Param::Text(&id),
                        match max.map(i64::try_from) {
                            Some(Ok(max)) => Param::Int(max),
                            _ => Param::Null,
                        },
                    ],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await?;
        self.merchant_view(&merchant_id).await
    }

    /// What bounds an order's amount, to carry into a write.
    pub(crate) fn order_limits(&self) -> OrderLimits {
        OrderLimits {
            merchant_default: self.config.order_amount_max_default,
            payable: self.wallet.config().limits.largest_single(),
        }
    }

    /// Adds a store to a merchant (operator).
    pub async fn add_store(
        &self,
        merchant_id: &MerchantId,
        name: &str,
        address: &str,
    ) -> ServiceResult<StoreView> {
        let name = text_field(name, "name", 64)?;
        let address = text_field(address, "address", 256)?;
        let merchant_id = self.existing_merchant(merchant_id).await?;
        let id = self.wallet.new_id_string();
        let store_id = id.clone();
        let merchant = merchant_id.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let count = conn
                    .query_opt("SELECT COUNT(*) FROM stores WHERE merchant_id = $1", &[Param::Text(&merchant)])?
                    .map_or(Ok(0), |row| row.int(0))?;
                if count >= STORES_MAX {
                    return Err(ServiceError::unprocessable("stores_max", format!("a merchant has at most {STORES_MAX} stores")));
                }
                conn.execute(
                    "INSERT INTO stores (id, merchant_id, name, address, created_ns) VALUES ($1,$2,$3,$4,$5)",
                    &[Param::Text(&store_id), Param::Text(&merchant), Param::Text(&name), Param::Text(&address), Param::Int(now as i64)],
                )?;
                Ok(())
            })
            .await?;
        let view = self.merchant_view(&merchant_id).await?;
        view.stores
            .into_iter()
            .find(|store| store.id == id)
            .ok_or_else(|| ServiceError::internal("store vanished"))
    }

    /// Adds a terminal (a POS, a cashier's scanner) to a store (operator).
    pub async fn add_terminal(
        &self,
        merchant_id: &MerchantId,
        store_id: &StoreId,
        label: &str,
    ) -> ServiceResult<TerminalView> {
        let label = text_field(label, "label", 25)?;
        let merchant_id = self.existing_merchant(merchant_id).await?;
        let store_id = store_id.as_str().to_owned();
        let id = self.wallet.new_id_string();
        let view = TerminalView {
            id: id.clone(),
            store_id: store_id.clone(),
            label: label.clone(),
        };
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                if !store_of(conn, &merchant_id, &store_id)? {
                    return Err(not_found("store_not_found", "store of this merchant"));
                }
                let count = conn
                    .query_opt("SELECT COUNT(*) FROM terminals WHERE merchant_id = $1", &[Param::Text(&merchant_id)])?
                    .map_or(Ok(0), |row| row.int(0))?;
                if count >= TERMINALS_MAX {
                    return Err(ServiceError::unprocessable("terminals_max", format!("a merchant has at most {TERMINALS_MAX} terminals")));
                }
                conn.execute(
                    "INSERT INTO terminals (id, merchant_id, store_id, label, created_ns) VALUES ($1,$2,$3,$4,$5)",
                    &[Param::Text(&id), Param::Text(&merchant_id), Param::Text(&store_id), Param::Text(&label), Param::Int(now as i64)],
                )?;
                Ok(())
            })
            .await?;
        Ok(view)
    }

    /// Adds a signing key; older keys expire after the overlap period. By the operator (the
    /// first key) or by the merchant itself, signing with its current key (`caller`).
    pub async fn add_key(
        &self,
        merchant_id: &MerchantId,
        public_key: &str,
        caller: Option<MerchantCaller>,
    ) -> ServiceResult<KeyView> {
        let key = signing::parse_public_key(public_key)
            .map_err(|error| bad(error.code, error.message))?;
        let key_hex = signing::hex(key.as_bytes());
        let merchant_id = self.existing_merchant(merchant_id).await?;
        let overlap = duration_ns(self.config.key_overlap);
        let granted_by = caller.as_ref().map(|caller| caller.key_id.clone());
        let granted = granted_by.clone();
        let id = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                // Only a current key may rotate: a rotated-out key (still in its overlap)
                // must not be able to take the account back.
                if let Some(caller) = &caller {
                    caller.require_full()?;
                    let current = conn.query_opt(
                        "SELECT 1 FROM merchant_keys WHERE id = $1 AND merchant_id = $2 AND expires_ns IS NULL AND scope = 'full'",
                        &[Param::Text(&caller.key_id), Param::Text(&caller.merchant_id)],
                    )?;
                    if current.is_none() {
                        return Err(ServiceError::forbidden(
                            "key_rotated_out",
                            "this key is being retired; sign key rotations with the current key",
                        ));
                    }
                }
                let id = signing::key_id(&key);
                let existing = conn.query_opt("SELECT 1 FROM merchant_keys WHERE id = $1", &[Param::Text(&id)])?;
                if existing.is_some() {
                    return Err(ServiceError::conflict("key_exists", "this public key is already registered"));
                }
                conn.execute(
                    "UPDATE merchant_keys SET expires_ns = $2 WHERE merchant_id = $1 AND expires_ns IS NULL AND scope = 'full'",
                    &[Param::Text(&merchant_id), Param::Int(now.saturating_add(overlap) as i64)],
                )?;
                let active = conn
                    .query_opt(
                        "SELECT COUNT(*) FROM merchant_keys WHERE merchant_id = $1 AND expires_ns > $2 AND scope = 'full'",
                        &[Param::Text(&merchant_id), Param::Int(now as i64)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                if active as usize >= KEYS_ACTIVE_MAX {
                    return Err(ServiceError::unprocessable(
                        "keys_max",
                        format!("at most {KEYS_ACTIVE_MAX} keys may be active at once; wait for the overlap of the last rotation to end"),
                    ));
                }
                insert_key(conn, &merchant_id, &key_hex, KeyScope::Full, granted_by.as_deref(), now)?;
                Ok(id)
            })
            .await?;
        Ok(KeyView {
            id,
            public_key: signing::hex(key.as_bytes()),
            scope: KeyScope::Full.name().to_owned(),
            created_at: rfc3339(cashless_kernel::now_ns()),
            expires_at: None,
            granted_by: granted,
        })
    }

    /// Registers a key for a till (by the merchant, with a full key): it takes payments and
    /// looks them up, nothing more, and rotates nothing. Revoke it with [`Payments::revoke_till_key`].
    pub async fn add_till_key(
        &self,
        caller: MerchantCaller,
        public_key: &str,
    ) -> ServiceResult<KeyView> {
        let granted_by = caller.granting_key()?;
        let granted = granted_by.clone();
        let key = signing::parse_public_key(public_key)
            .map_err(|error| bad(error.code, error.message))?;
        let key_hex = signing::hex(key.as_bytes());
        let id = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let id = signing::key_id(&key);
                if conn.query_opt("SELECT 1 FROM merchant_keys WHERE id = $1", &[Param::Text(&id)])?.is_some() {
                    return Err(ServiceError::conflict("key_exists", "this public key is already registered"));
                }
                let tills = conn
                    .query_opt(
                        "SELECT COUNT(*) FROM merchant_keys WHERE merchant_id = $1 AND scope = 'till' \
                         AND (expires_ns IS NULL OR expires_ns > $2)",
                        &[Param::Text(&caller.merchant_id), Param::Int(now as i64)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                if tills >= TILL_KEYS_MAX {
                    return Err(ServiceError::unprocessable(
                        "keys_max",
                        format!("at most {TILL_KEYS_MAX} till keys; revoke unused ones first"),
                    ));
                }
                insert_key(conn, &caller.merchant_id, &key_hex, KeyScope::Till, Some(&granted_by), now)?;
                Ok(id)
            })
            .await?;
        Ok(KeyView {
            id,
            public_key: signing::hex(key.as_bytes()),
            scope: KeyScope::Till.name().to_owned(),
            created_at: rfc3339(cashless_kernel::now_ns()),
            expires_at: None,
            granted_by: Some(granted),
        })
    }

    /// Re-confirms a till key with the merchant's current key, which then stands behind it:
    /// revoking the key that made it no longer revokes it.
    pub async fn confirm_till_key(
        &self,
        caller: MerchantCaller,
        key_id: &str,
    ) -> ServiceResult<()> {
        let granted_by = caller.granting_key()?;
        let key_id = key_id.to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let confirmed = tx.conn()?.execute(
                    "UPDATE merchant_keys SET granted_by = $3 WHERE id = $1 AND merchant_id = $2 \
                     AND scope = 'till' AND (expires_ns IS NULL OR expires_ns > $4)",
                    &[
                        Param::Text(&key_id),
                        Param::Text(&caller.merchant_id),
                        Param::Text(&granted_by),
                        Param::Int(now as i64),
                    ],
                )?;
                if confirmed == 0 {
                    return Err(ServiceError::not_found(
                        "key_not_found",
                        "no live till key with this id",
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Revokes one of the merchant's till keys at once (a lost or stolen till).
    pub async fn revoke_till_key(&self, caller: MerchantCaller, key_id: &str) -> ServiceResult<()> {
        caller.require_full()?;
        let key_id = key_id.to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let revoked = tx.conn()?.execute(
                    "UPDATE merchant_keys SET expires_ns = $3 WHERE id = $1 AND merchant_id = $2 \
                     AND scope = 'till' AND (expires_ns IS NULL OR expires_ns > $3)",
                    &[
                        Param::Text(&key_id),
                        Param::Text(&caller.merchant_id),
                        Param::Int(now as i64),
                    ],
                )?;
                if revoked == 0 {
                    return Err(ServiceError::not_found(
                        "key_not_found",
                        "no live till key with this id",
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Revokes a merchant key at once (operator), e.g. when it leaked: requests signed with it
    /// are refused from now on, overlap or not. Everything it granted goes with it unless the
    /// merchant's current key re-confirmed it since: its till keys are revoked and the staff
    /// it added are removed. Every staff session of the merchant ends too (staff sign in
    /// again). Full keys it rotated in are not revoked (the merchant's current key must
    /// survive the retirement of a leaked one), but named in the answer (`successors`): if the
    /// rotation was the thief's, revoke them too. Revoking the last full key locks the
    /// merchant's API, staff included, until the operator registers a new one.
    pub async fn revoke_key(
        &self,
        merchant_id: &MerchantId,
        key_id: &str,
        mode: Revocation,
    ) -> ServiceResult<Revoked> {
        let merchant_id = self.existing_merchant(merchant_id).await?;
        let key_id = key_id.to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                // A key past its overlap is revoked all the same: what it granted while it
                // worked must still go (a thief's till keys never expire).
                let known = conn.query_opt(
                    "SELECT 1 FROM merchant_keys WHERE id = $1 AND merchant_id = $2",
                    &[Param::Text(&key_id), Param::Text(&merchant_id)],
                )?;
                if known.is_none() {
                    return Err(ServiceError::not_found(
                        "key_not_found",
                        "this merchant has no key with this id",
                    ));
                }
                let granted = grants_of(conn, &merchant_id, &key_id, now)?;
                if mode == Revocation::DryRun {
                    return Ok(granted);
                }
                conn.execute(
                    "UPDATE merchant_keys SET expires_ns = $3 \
                     WHERE id = $1 AND merchant_id = $2 AND (expires_ns IS NULL OR expires_ns > $3)",
                    &[
                        Param::Text(&key_id),
                        Param::Text(&merchant_id),
                        Param::Int(now as i64),
                    ],
                )?;
                revoke_grants(conn, &merchant_id, &key_id, now)?;
                conn.execute(
                    "UPDATE staff_sessions SET revoked_ns = $2 WHERE merchant_id = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&merchant_id), Param::Int(now as i64)],
                )?;
                tracing::warn!(
                    merchant = %merchant_id,
                    key = %key_id,
                    till_keys = granted.till_keys.len(),
                    staff = granted.staff.len(),
                    "merchant key revoked with what it granted"
                );
                Ok(granted)
            })
            .await
    }

    /// Sets where notifications go (by the merchant, signed). Events still undelivered and
    /// not scheduled (made while there was no URL, or given up on) are sent to it: every
    /// event reaches the merchant at least once.
    pub async fn set_notify_url(&self, caller: MerchantCaller, url: &str) -> ServiceResult<()> {
        caller.require_full()?;
        let url = self.outbox.check_url(url)?;
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                conn.execute(
                    "UPDATE merchants SET notify_url = $2 WHERE id = $1",
                    &[Param::Text(&caller.merchant_id), Param::Text(&url)],
                )?;
                cashless_outbox::release_waiting(conn, &caller.merchant_id, now)?;
                Ok(())
            })
            .await
    }

    /// The calling merchant's own view.
    /// Tills (till keys, cashiers, managers) see the shop, not the business: no settlement
    /// account, notify URL or keys.
    pub async fn merchant_profile(&self, caller: MerchantCaller) -> ServiceResult<MerchantView> {
        let mut view = self.merchant_view(&caller.merchant_id).await?;
        if caller.scope != KeyScope::Full {
            view.settlement_bank = String::new();
            view.settlement_account = String::new();
            view.notify_url = None;
            view.keys = Vec::new();
        }
        Ok(view)
    }

    /// Uses up a signed request's nonce, in a write of its own before the request's work:
    /// a request that then fails cannot be replayed either.
    pub async fn claim_nonce(&self, caller: &mut MerchantCaller) -> ServiceResult<()> {
        if caller.nonce_claimed {
            return Ok(());
        }
        let (merchant_id, nonce) = (caller.merchant_id.clone(), caller.nonce.clone());
        let nonces = std::sync::Arc::clone(&self.nonces);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                nonces.claim(tx.conn()?, &merchant_id, &nonce, now)
            })
            .await?;
        caller.nonce_claimed = true;
        Ok(())
    }

    async fn existing_merchant(&self, merchant_id: &MerchantId) -> ServiceResult<String> {
        let id = merchant_id.as_str().to_owned();
        self.store
            .read(move |conn| load(conn, &id))
            .await?
            .map(|merchant| merchant.id)
            .ok_or_else(merchant_not_found)
    }

    /// Checks a signed request: the header's shape, the timestamp, the key, the signature.
    /// The nonce is claimed later, by the write the request makes.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> ServiceResult<MerchantCaller> {
        if let Some(token) = authorization.and_then(|header| header.strip_prefix("Bearer ")) {
            return self.staff_caller(token.trim()).await;
        }
        let header = authorization.ok_or_else(|| {
            unauthorized(
                "signature_missing",
                "sign the request: Authorization: CASHLESS-ED25519 merchant_id=\"…\",key_id=\"…\",timestamp=\"…\",nonce=\"…\",signature=\"…\"",
            )
        })?;
        let auth = Authorization::parse(header)
            .map_err(|error| unauthorized(error.code, error.message))?;
        let now_secs = (cashless_kernel::now_ns() / 1_000_000_000) as i64;
        let skew = self.config.signature_skew.as_secs();
        if now_secs.abs_diff(auth.timestamp) > skew {
            return Err(unauthorized(
                "signature_expired",
                format!(
                    "the timestamp is more than {skew} s from the platform's clock ({now_secs})"
                ),
            ));
        }
        let (merchant_id, key_id) = (auth.merchant_id.clone(), auth.key_id.clone());
        let cache_key = (merchant_id.clone(), key_id.clone());
        let invalid = || {
            unauthorized(
                "signature_invalid",
                "the signature does not verify with this merchant's key",
            )
        };
        let key = self
            .store
            .read_credential(&self.merchant_keys, cache_key, move |conn| {
                let row = conn.query_opt(
                    "SELECT public_key, scope, expires_ns FROM merchant_keys \
                     WHERE id = $1 AND merchant_id = $2",
                    &[Param::Text(&key_id), Param::Text(&merchant_id)],
                )?;
                let Some(row) = row else {
                    return Ok(None);
                };
                // A scope this binary does not know grants nothing.
                let scope = match row.text(1)? {
                    "full" => KeyScope::Full,
                    "till" => KeyScope::Till,
                    _ => return Ok(None),
                };
                let expires_ns = row.opt_int(2)?;
                Ok(
                    cashless_wallet::confirm::verifying_key(row.text(0)?).map(|key| ApiKey {
                        key,
                        scope,
                        expires_ns,
                    }),
                )
            })
            .await?
            .filter(|key| {
                key.expires_ns
                    .is_none_or(|expires| expires > cashless_kernel::now_ns() as i64)
            })
            .ok_or_else(invalid)?;
        // A full key in its overlap after a rotation does what a till does, nothing more.
        let scope = match (key.scope, key.expires_ns) {
            (KeyScope::Full, Some(_)) => KeyScope::Retired,
            (scope, _) => scope,
        };
        let message =
            signing::string_to_sign(method, path_and_query, auth.timestamp, &auth.nonce, body);
        let check = cashless_kernel::signatures::Check {
            key: key.key,
            message: message.into_bytes(),
            signature: auth.signature,
        };
        if !self.wallet.signatures().verify(check).await {
            return Err(invalid());
        }
        Ok(MerchantCaller {
            merchant_id: auth.merchant_id,
            key_id: auth.key_id,
            nonce: auth.nonce,
            nonce_claimed: false,
            scope,
            staff_id: None,
        })
    }
}

/// What revoking a key took with it.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// The till keys it granted (and the current key had not re-confirmed), now revoked.
    pub till_keys: Vec<String>,
    /// The staff it added (and the current key had not re-confirmed), now removed.
    pub staff: Vec<String>,
    /// Full keys it rotated in: not revoked; revoke them too if the rotation was not the
    /// merchant's.
    pub successors: Vec<String>,
}

/// Whether a revocation happens or only says what it would take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Revocation {
    Revoke,
    DryRun,
}

/// What `key_id` granted that is still live: its till keys, its staff, the keys it rotated in.
fn grants_of(conn: &mut Conn, merchant_id: &str, key_id: &str, now: u64) -> ServiceResult<Revoked> {
    let ids = |conn: &mut Conn, sql: &str, params: &[Param<'_>]| -> ServiceResult<Vec<String>> {
        conn.query(sql, params)?
            .iter()
            .map(|row| Ok(row.text(0)?.to_owned()))
            .collect()
    };
    let live_keys = |scope: &str| {
        format!(
            "SELECT id FROM merchant_keys WHERE merchant_id = $1 AND granted_by = $2 \
             AND scope = '{scope}' AND (expires_ns IS NULL OR expires_ns > $3) ORDER BY id"
        )
    };
    let keyed = [
        Param::Text(merchant_id),
        Param::Text(key_id),
        Param::Int(now as i64),
    ];
    Ok(Revoked {
        till_keys: ids(conn, &live_keys("till"), &keyed)?,
        successors: ids(conn, &live_keys("full"), &keyed)?,
        staff: ids(
            conn,
            "SELECT id FROM merchant_staff WHERE merchant_id = $1 AND granted_by = $2 \
             AND removed_ns IS NULL ORDER BY id",
            &keyed[..2],
        )?,
    })
}

/// Revokes the till keys and removes the staff that `key_id` granted.
fn revoke_grants(conn: &mut Conn, merchant_id: &str, key_id: &str, now: u64) -> ServiceResult<()> {
    conn.execute(
        "UPDATE merchant_keys SET expires_ns = $3 WHERE merchant_id = $1 AND granted_by = $2 \
         AND scope = 'till' AND (expires_ns IS NULL OR expires_ns > $3)",
        &[
            Param::Text(merchant_id),
            Param::Text(key_id),
            Param::Int(now as i64),
        ],
    )?;
    conn.execute(
        "UPDATE merchant_staff SET removed_ns = $3 WHERE merchant_id = $1 AND granted_by = $2 \
         AND removed_ns IS NULL",
        &[
            Param::Text(merchant_id),
            Param::Text(key_id),
            Param::Int(now as i64),
        ],
    )?;
    Ok(())
}

fn insert_key(
    conn: &mut Conn,
    merchant_id: &str,
    public_key_hex: &str,
    scope: KeyScope,
    granted_by: Option<&str>,
    now: u64,
) -> ServiceResult<()> {
    let key = signing::parse_public_key(public_key_hex)
        .map_err(|error| bad(error.code, error.message))?;
    conn.execute(
        "INSERT INTO merchant_keys (id, merchant_id, public_key, created_ns, expires_ns, scope, granted_by) \
         VALUES ($1,$2,$3,$4,NULL,$5,$6)",
        &[
            Param::Text(&signing::key_id(&key)),
            Param::Text(merchant_id),
            Param::Text(public_key_hex),
            Param::Int(now as i64),
            Param::Text(scope.name()),
            granted_by.map_or(Param::Null, Param::Text),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_social_credit_codes_check() {
        // A widely published example code (Alibaba's Hangzhou entity).
        assert_eq!(uscc_check_character("91330100799655058"), Some('B'));
        assert_eq!(uscc_check_character("9133010079965505I"), None);
        assert_eq!(uscc_check_character("short"), None);
    }
}
