//! Operator-only ledger endpoints: create accounts and transfers in batches, read them back.
//!
//! Batches are atomic over HTTP: if any account or transfer is rejected, nothing of the batch
//! is written and the answer is a 4xx error carrying every item's result. Re-sending a batch
//! that succeeded answers `exists` for each item (ids are the idempotency keys).

use axum::Json;
use axum::extract::State;

use crate::extract::{Path, Query};
use axum::http::StatusCode;
use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, Balances, CreateAccountResult,
    CreateTransferResult, Currency, Transfer, TransferFlags, TransferId, format_amount,
    parse_amount,
};
use cashless_store::{AccountRow, StoreError, TransferRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::json::{ApiJsonList, rfc3339};

/// The most events one request may carry (as TigerBeetle's 8,190 per batch).
pub const BATCH_EVENTS_MAX: usize = 8_190;

/// Default and largest page of an account's transfers.
const PAGE_TRANSFERS_DEFAULT: u32 = 50;
const PAGE_TRANSFERS_MAX: u32 = 1_000;

/// An account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// A UUID (time-ordered, v7, keeps storage append-only), or a decimal u128; the
    /// idempotency key.
    #[schema(example = "0190a5f4-0000-7000-8000-000000000001")]
    id: String,
    #[schema(example = "CNY")]
    currency: String,
    /// `wallet`, `merchant`, `escrow`, `clearing`, `fee`, `payable`, `fx`, `operator` or
    /// `suspense`.
    #[schema(example = "wallet")]
    kind: String,
    /// `debits_must_not_exceed_credits`, `credits_must_not_exceed_debits`, `closed`.
    #[serde(default)]
    flags: Vec<String>,
    /// An id of the caller's (a UUID or a decimal u128).
    #[serde(default)]
    reference: Option<String>,
}

/// A transfer to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// A UUID (time-ordered, v7) or a decimal u128; the idempotency key.
    #[schema(example = "0190a5f4-0000-7000-8000-0000000000a1")]
    id: String,
    #[serde(default)]
    debit_account_id: Option<String>,
    #[serde(default)]
    credit_account_id: Option<String>,
    /// A decimal string in the currency's units ("12.34"), never a JSON number; optional only
    /// for `void_pending`.
    #[serde(default)]
    #[schema(example = "100.50")]
    amount: Option<String>,
    currency: String,
    /// The caller's own kind of transfer, 0 to 65535.
    #[serde(default)]
    #[schema(maximum = 65535)]
    code: u16,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    pending_id: Option<String>,
    #[serde(default)]
    timeout_secs: u32,
    #[serde(default)]
    reference: Option<String>,
}

fn parse_id(field: &str, text: &str) -> Result<u128, ApiError> {
    cashless_ledger::parse_u128(text)
        .map_err(|error| ApiError::invalid("invalid_id", format!("{field}: {error}")))
}

fn parse_optional_id(field: &str, text: Option<&str>) -> Result<u128, ApiError> {
    text.map_or(Ok(0), |text| parse_id(field, text))
}

fn parse_currency(text: &str) -> Result<Currency, ApiError> {
    Currency::from_code(text).ok_or_else(|| {
        ApiError::invalid(
            "unknown_currency",
            format!("{text:?} is not a supported ISO 4217 currency code"),
        )
    })
}

impl AccountInput {
    fn into_account(self) -> Result<Account, ApiError> {
        let kind = AccountKind::from_name(&self.kind).ok_or_else(|| {
            let known: Vec<&str> = AccountKind::ALL.iter().map(|k| k.name()).collect();
            ApiError::invalid(
                "unknown_account_kind",
                format!("kind must be one of {}", known.join(", ")),
            )
        })?;
        let mut flags = AccountFlags::NONE;
        for name in &self.flags {
            let flag = AccountFlags::from_name(name).ok_or_else(|| {
                ApiError::invalid("unknown_flag", format!("unknown account flag {name:?}"))
            })?;
            flags = flags.union(flag);
        }
        let mut account = Account::new(
            AccountId(parse_id("id", &self.id)?),
            parse_currency(&self.currency)?,
            kind,
            flags,
        );
        account.reference = parse_optional_id("reference", self.reference.as_deref())?;
        Ok(account)
    }
}

impl TransferInput {
    fn into_transfer(self) -> Result<Transfer, ApiError> {
        let mut flags = TransferFlags::NONE;
        for name in &self.flags {
            let flag = TransferFlags::from_name(name).ok_or_else(|| {
                ApiError::invalid("unknown_flag", format!("unknown transfer flag {name:?}"))
            })?;
            flags = flags.union(flag);
        }
        let currency = parse_currency(&self.currency)?;
        let amount = match self.amount.as_deref() {
            Some(text) => parse_amount(text, currency).map_err(|error| {
                ApiError::invalid(error.code(), format!("amount {text:?}: {error}"))
            })?,
            None if flags.contains(TransferFlags::VOID_PENDING) => 0,
            None => {
                return Err(ApiError::invalid(
                    "amount_missing",
                    "amount is required, e.g. \"12.34\"",
                ));
            }
        };
        Ok(Transfer {
            id: TransferId(parse_id("id", &self.id)?),
            debit_account_id: AccountId(parse_optional_id(
                "debit_account_id",
                self.debit_account_id.as_deref(),
            )?),
            credit_account_id: AccountId(parse_optional_id(
                "credit_account_id",
                self.credit_account_id.as_deref(),
            )?),
            amount,
            pending_id: TransferId(parse_optional_id("pending_id", self.pending_id.as_deref())?),
            timeout_secs: self.timeout_secs,
            currency,
            code: self.code,
            flags,
            reference: parse_optional_id("reference", self.reference.as_deref())?,
            timestamp: 0,
        })
    }
}

fn optional_id(value: u128) -> Option<String> {
    (value != 0).then(|| TransferId(value).to_string())
}

/// An account's four balances, as decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesView {
    pub debits_pending: String,
    pub debits_posted: String,
    pub credits_pending: String,
    pub credits_posted: String,
}

impl BalancesView {
    fn new(balances: &Balances, currency: Currency) -> BalancesView {
        BalancesView {
            debits_pending: format_amount(balances.debits_pending, currency),
            debits_posted: format_amount(balances.debits_posted, currency),
            credits_pending: format_amount(balances.credits_pending, currency),
            credits_posted: format_amount(balances.credits_posted, currency),
        }
    }
}

/// A ledger account and its balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub currency: String,
    pub kind: String,
    pub flags: Vec<String>,
    pub reference: Option<String>,
    pub balances: BalancesView,
    pub created_at: String,
}

impl AccountView {
    pub fn new(row: &AccountRow) -> AccountView {
        let account = &row.account;
        AccountView {
            id: account.id.to_string(),
            currency: account.currency.code().to_owned(),
            kind: account.kind.name().to_owned(),
            flags: account
                .flags
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            reference: optional_id(account.reference),
            balances: BalancesView::new(&account.balances, account.currency),
            created_at: rfc3339(account.timestamp),
        }
    }
}

/// A transfer as the ledger recorded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub id: String,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub amount: String,
    pub currency: String,
    pub code: u16,
    pub flags: Vec<String>,
    pub pending_id: Option<String>,
    pub timeout_secs: u32,
    pub reference: Option<String>,
    /// `ok`, or why the ledger refused it.
    pub result: String,
    /// For a pending transfer: `pending`, `posted`, `voided` or `expired`; else `none`.
    pub pending_status: String,
    pub timestamp: String,
    /// The ledger's timestamp in nanoseconds (unique, increasing), as a decimal string.
    pub timestamp_ns: String,
}

impl TransferView {
    pub fn new(row: &TransferRow) -> TransferView {
        let record = &row.record;
        let t = &record.transfer;
        TransferView {
            id: t.id.to_string(),
            debit_account_id: t.debit_account_id.to_string(),
            credit_account_id: t.credit_account_id.to_string(),
            amount: format_amount(t.amount, t.currency),
            currency: t.currency.code().to_owned(),
            code: t.code,
            flags: t.flags.names().into_iter().map(str::to_owned).collect(),
            pending_id: optional_id(t.pending_id.0),
            timeout_secs: t.timeout_secs,
            reference: optional_id(t.reference),
            result: record.result.code().to_owned(),
            pending_status: record.pending_status.name().to_owned(),
            timestamp: rfc3339(t.timestamp),
            timestamp_ns: t.timestamp.to_string(),
        }
    }
}

/// One item's result in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResult {
    pub id: String,
    /// `ok` or `exists` when the batch was written; in an error, the refused item's reason and
    /// `not_applied` for the others.
    pub result: String,
}

/// A batch's answer: every item's result, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResults {
    pub results: Vec<ItemResult>,
}

/// A page of an account's transfers, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferPage {
    pub transfers: Vec<TransferView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn check_batch_size(len: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::invalid("batch_empty", "send at least one item"));
    }
    if len > BATCH_EVENTS_MAX {
        return Err(ApiError::invalid(
            "batch_too_large",
            format!("a batch holds at most {BATCH_EVENTS_MAX} items, not {len}"),
        ));
    }
    Ok(())
}

/// Parses every item, naming the first bad one.
fn parse_all<I, T>(
    inputs: Vec<I>,
    parse: impl Fn(I) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| {
            parse(input).map_err(|mut error| {
                error.message = format!("item {index}: {}", error.message);
                error
            })
        })
        .collect()
}

/// A batch rejected as a whole, or a store failure.
enum BatchError {
    Store(StoreError),
    Rejected(Vec<(u128, &'static str, Verdict)>),
}

/// What one item's result says, read from the ledger's typed result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// In the ledger as asked.
    Applied,
    /// Refused only because another item of its linked chain was.
    NotApplied,
    /// Its id exists with other fields, or was refused before: 409.
    Conflict,
    /// Refused by a rule of the ledger: 422.
    Refused,
}

fn account_verdict(result: CreateAccountResult) -> Verdict {
    use CreateAccountResult as R;
    match result {
        R::Ok | R::Exists => Verdict::Applied,
        R::ExistsWithDifferentFlags
        | R::ExistsWithDifferentCurrency
        | R::ExistsWithDifferentKind
        | R::ExistsWithDifferentReference => Verdict::Conflict,
        R::TimestampMustBeZero
        | R::IdMustNotBeZero
        | R::IdMustNotBeIntMax
        | R::FlagsAreMutuallyExclusive
        | R::ReservedFlag
        | R::BalancesMustBeZero => Verdict::Refused,
    }
}

fn transfer_verdict(result: CreateTransferResult) -> Verdict {
    use CreateTransferResult as R;
    match result {
        _ if result.is_success() => Verdict::Applied,
        R::LinkedEventFailed => Verdict::NotApplied,
        R::IdAlreadyFailed
        | R::ExistsWithDifferentFlags
        | R::ExistsWithDifferentDebitAccountId
        | R::ExistsWithDifferentCreditAccountId
        | R::ExistsWithDifferentAmount
        | R::ExistsWithDifferentPendingId
        | R::ExistsWithDifferentTimeout
        | R::ExistsWithDifferentCurrency
        | R::ExistsWithDifferentCode
        | R::ExistsWithDifferentReference => Verdict::Conflict,
        _ => Verdict::Refused,
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> BatchError {
        BatchError::Store(error)
    }
}

/// Answers a batch: the per-item results, or, if any was rejected, a 4xx error carrying them.
fn batch_response(
    outcome: Result<Vec<(u128, &'static str)>, BatchError>,
) -> Result<Json<BatchResults>, ApiError> {
    let rejected = match outcome {
        Ok(results) => {
            let results = results
                .into_iter()
                .map(|(id, result)| ItemResult {
                    id: TransferId(id).to_string(),
                    result: result.to_owned(),
                })
                .collect();
            return Ok(Json(BatchResults { results }));
        }
        Err(BatchError::Store(error)) => return Err(error.into()),
        Err(BatchError::Rejected(rejected)) => rejected,
    };
    // The cause is the rejected item itself, not the ones that failed along with it.
    let not_applied = |verdict: Verdict| matches!(verdict, Verdict::Applied | Verdict::NotApplied);
    let index = rejected
        .iter()
        .position(|(_, _, verdict)| !not_applied(*verdict))
        .unwrap_or(0);
    let (first, verdict) = rejected
        .get(index)
        .map_or(("rejected", Verdict::Refused), |(_, code, verdict)| {
            (*code, *verdict)
        });
    let status = if verdict == Verdict::Conflict {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let results: Vec<ItemResult> = rejected
        .iter()
        .map(|(id, code, verdict)| {
            let result = if not_applied(*verdict) {
                "not_applied"
            } else {
                code
            };
            ItemResult {
                id: TransferId(*id).to_string(),
                result: result.to_owned(),
            }
        })
        .collect();
    Err(ApiError::new(
        status,
        first,
        format!("item {index} was rejected ({first}); nothing in this batch was written"),
    )
    .with_details("results", serde_json::to_value(results).unwrap_or_default()))
}

/// Creates accounts, all or none (at most 8,190). Ids are the idempotency keys: an account
/// sent again answers `exists`.
#[utoipa::path(post, path = "/v1/ledger/accounts", tag = "ledger", security(("operator" = [])),
    request_body = Vec<AccountInput>,
    responses((status = 200, body = BatchResults),
              (status = 409, body = ErrorBody, description = "exists_with_different_*: the error carries `results`"),
              (status = 422, body = ErrorBody, description = "batch_empty, batch_too_large, invalid_id, unknown_currency, unknown_account_kind, unknown_flag; or an item refused for the ledger's state (the error carries `results`)")))]
pub async fn create_accounts(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJsonList(inputs): ApiJsonList<AccountInput>,
) -> Result<Json<BatchResults>, ApiError> {
    check_batch_size(inputs.len())?;
    let accounts = parse_all(inputs, AccountInput::into_account)?;
    let outcome = state
        .store
        .write(move |tx| {
            let results = tx.create_accounts(&accounts);
            let items = accounts
                .iter()
                .zip(&results)
                .map(|(a, r)| (a.id.0, r.code(), account_verdict(*r)));
            if results.iter().all(|r| r.is_success()) {
                Ok(items.map(|(id, code, _)| (id, code)).collect())
            } else {
                Err(BatchError::Rejected(items.collect()))
            }
        })
        .await;
    batch_response(outcome)
}

/// Creates transfers, all or none (at most 8,190): single-phase, `pending` (two-phase, with
/// `timeout_secs`), `post_pending` or `void_pending`, `linked` chains. Ids are the idempotency
/// keys; an id refused for the ledger's state answers `id_already_failed` ever after.
#[utoipa::path(post, path = "/v1/ledger/transfers", tag = "ledger", security(("operator" = [])),
    request_body = Vec<TransferInput>,
    responses((status = 200, body = BatchResults),
              (status = 409, body = ErrorBody, description = "exists_with_different_*, id_already_failed: the error carries `results`"),
              (status = 422, body = ErrorBody, description = "batch_empty, batch_too_large, invalid_id, unknown_currency, unknown_flag, amount_missing, amount_invalid; or exceeds_credits, exceeds_debits … for the ledger's state (the error carries `results`)")))]
pub async fn create_transfers(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJsonList(inputs): ApiJsonList<TransferInput>,
) -> Result<Json<BatchResults>, ApiError> {
    check_batch_size(inputs.len())?;
    let transfers = parse_all(inputs, TransferInput::into_transfer)?;
    // All or nothing; a rejected transfer's failure is still remembered (so the operation
    // commits), and a retry of its id answers id_already_failed rather than succeeding later.
    let outcome = state
        .store
        .write(move |tx| {
            let results = tx.create_transfers_atomically(&transfers)?;
            let items: Vec<(u128, &'static str, Verdict)> = transfers
                .iter()
                .zip(&results)
                .map(|(t, r)| (t.id.0, r.code(), transfer_verdict(*r)))
                .collect();
            Ok::<_, StoreError>(items)
        })
        .await;
    let outcome = match outcome {
        Ok(items)
            if items
                .iter()
                .all(|(_, _, verdict)| *verdict == Verdict::Applied) =>
        {
            Ok(items.into_iter().map(|(id, code, _)| (id, code)).collect())
        }
        Ok(items) => Err(BatchError::Rejected(items)),
        Err(error) => Err(BatchError::Store(error)),
    };
    batch_response(outcome)
}

/// An account and its balances.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "the account's id (a UUID or a decimal u128)")),
    responses((status = 200, body = AccountView),
              (status = 422, body = ErrorBody, description = "invalid_id"),
              (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let id = AccountId(parse_id("account id", &id)?);
    match state.store.account(id).await? {
        Some(row) => Ok(Json(AccountView::new(&row))),
        None => Err(ApiError::not_found(format!("no account {id}"))),
    }
}

/// One transfer.
#[utoipa::path(get, path = "/v1/ledger/transfers/{id}", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "the transfer's id (a UUID or a decimal u128)")),
    responses((status = 200, body = TransferView),
              (status = 422, body = ErrorBody, description = "invalid_id"),
              (status = 404, body = ErrorBody)))]
pub async fn get_transfer(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<Json<TransferView>, ApiError> {
    let id = TransferId(parse_id("transfer id", &id)?);
    match state.store.transfer(id).await? {
        Some(row) => Ok(Json(TransferView::new(&row))),
        None => Err(ApiError::not_found(format!("no transfer {id}"))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 1,000; 50 by default.
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// An account's transfers, newest first.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}/transfers", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "the account's id"), PageQuery),
    responses((status = 200, body = TransferPage),
              (status = 422, body = ErrorBody, description = "invalid_id, invalid_limit, invalid_cursor"),
              (status = 404, body = ErrorBody)))]
pub async fn list_account_transfers(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<TransferPage>, ApiError> {
    let id = AccountId(parse_id("account id", &id)?);
    let limit = query.limit.unwrap_or(PAGE_TRANSFERS_DEFAULT);
    if !(1..=PAGE_TRANSFERS_MAX).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_limit",
            format!("limit must be 1 to {PAGE_TRANSFERS_MAX}"),
        ));
    }
    let cursor = match query.cursor.as_deref() {
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|&cursor| cursor > 0)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_cursor",
                        "cursor must be a next_cursor from a previous page",
                    )
                })?,
        ),
        None => None,
    };
    let Some((rows, next)) = state.store.account_transfers(id, cursor, limit).await? else {
        return Err(ApiError::not_found(format!("no account {id}")));
    };
    Ok(Json(TransferPage {
        transfers: rows.iter().map(TransferView::new).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// What the audit found: the ledger (balanced per currency, every balance equal to its
/// transfers, constraints kept, the log whole, nothing stuck) and what the outbox owes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditReport {
    /// No break anywhere.
    pub passed: bool,
    /// Counts, per-currency totals and breaks by kind (see `cashless_store::audit`).
    #[schema(value_type = Object)]
    pub ledger: cashless_store::audit::LedgerAudit,
    pub outbox: cashless_outbox::OutboxOwed,
}

/// Checks the books from storage as `cashless audit` does: the ledger in one snapshot, then
/// what the outbox owes.
#[utoipa::path(get, path = "/v1/operator/audit", tag = "operator", security(("operator" = [])),
    responses((status = 200, body = AuditReport, description = "the audit ran: `passed` says whether it found a break"),
              (status = 409, body = ErrorBody, description = "audit_running: one audit at a time")))]
pub async fn audit(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<AuditReport>, ApiError> {
    // One at a time: each reads the whole ledger, and a retried request must not start a
    // second scan beside the first.
    static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if RUNNING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "audit_running",
            "an audit is running; ask again when it has answered",
        ));
    }
    /// Lets the next audit run once this one ends, however it ends.
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            RUNNING.store(false, std::sync::atomic::Ordering::Release);
        }
    }
    let done = Done;
    let location = state.store.location().clone();
    let report = tokio::task::spawn_blocking(move || {
        let _done = done;
        run_audit(&location, &mut |_, _| {})
    })
    .await
    .map_err(|error| StoreError::Internal(error.to_string()))??;
    Ok(Json(report))
}

/// The audit over a connection of its own (the server's, or `cashless audit`'s).
pub fn run_audit(
    location: &cashless_store::Location,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport, StoreError> {
    let mut conn = location.open()?;
    let now = cashless_kernel::now_ns();
    let ledger = cashless_store::audit::audit_ledger(&mut conn, now, progress)?;
    let outbox = cashless_outbox::owed(&mut conn)?;
    Ok(AuditReport {
        passed: ledger.passed(),
        ledger,
        outbox,
    })
}
