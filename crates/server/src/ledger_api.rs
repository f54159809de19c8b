//! Operator-only ledger endpoints: create accounts and transfers in batches, read them back.
//!
//! Batches are atomic over HTTP: if any account or transfer is rejected, nothing of the batch
//! is written and the answer is a 4xx error carrying every item's result. Re-sending a batch
//! that succeeded answers `exists` for each item (ids are the idempotency keys).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, Balances, Currency, Transfer, TransferFlags,
    TransferId, format_amount, parse_amount,
};
use cashless_store::{AccountRow, StoreError, TransferRow};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::json::{ApiJson, rfc3339};

/// The most events one request may carry (as TigerBeetle's 8,190 per batch).
pub const BATCH_EVENTS_MAX: usize = 8_190;

/// Default and largest page of an account's transfers.
const PAGE_TRANSFERS_DEFAULT: u32 = 50;
const PAGE_TRANSFERS_MAX: u32 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    id: String,
    currency: String,
    kind: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    id: String,
    #[serde(default)]
    debit_account_id: Option<String>,
    #[serde(default)]
    credit_account_id: Option<String>,
    /// A decimal string in the currency's units ("12.34"), never a JSON number.
    #[serde(default)]
    amount: Option<String>,
    currency: String,
    #[serde(default)]
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
        .map_err(|error| ApiError::bad_request("invalid_id", format!("{field}: {error}")))
}

fn parse_optional_id(field: &str, text: Option<&str>) -> Result<u128, ApiError> {
    text.map_or(Ok(0), |text| parse_id(field, text))
}

fn parse_currency(text: &str) -> Result<Currency, ApiError> {
    Currency::from_code(text).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_currency",
            format!("{text:?} is not a supported ISO 4217 currency code"),
        )
    })
}

impl AccountInput {
    fn into_account(self) -> Result<Account, ApiError> {
        let kind = AccountKind::from_name(&self.kind).ok_or_else(|| {
            let known: Vec<&str> = AccountKind::ALL.iter().map(|k| k.name()).collect();
            ApiError::bad_request(
                "unknown_account_kind",
                format!("kind must be one of {}", known.join(", ")),
            )
        })?;
        let mut flags = AccountFlags::NONE;
        for name in &self.flags {
            let flag = AccountFlags::from_name(name).ok_or_else(|| {
                ApiError::bad_request("unknown_flag", format!("unknown account flag {name:?}"))
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
                ApiError::bad_request("unknown_flag", format!("unknown transfer flag {name:?}"))
            })?;
            flags = flags.union(flag);
        }
        let currency = parse_currency(&self.currency)?;
        let amount = match self.amount.as_deref() {
            Some(text) => parse_amount(text, currency).map_err(|error| {
                ApiError::bad_request(error.code(), format!("amount {text:?}: {error}"))
            })?,
            None if flags.contains(TransferFlags::VOID_PENDING) => 0,
            None => {
                return Err(ApiError::bad_request(
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

fn optional_id(value: u128) -> Value {
    if value == 0 {
        Value::Null
    } else {
        json!(cashless_ledger::TransferId(value).to_string())
    }
}

fn balances_json(balances: &Balances, currency: Currency) -> Value {
    json!({
        "debits_pending": format_amount(balances.debits_pending, currency),
        "debits_posted": format_amount(balances.debits_posted, currency),
        "credits_pending": format_amount(balances.credits_pending, currency),
        "credits_posted": format_amount(balances.credits_posted, currency),
    })
}

pub fn account_json(row: &AccountRow) -> Value {
    let account = &row.account;
    json!({
        "id": account.id.to_string(),
        "currency": account.currency.code(),
        "kind": account.kind.name(),
        "flags": account.flags.names(),
        "reference": optional_id(account.reference),
        "balances": balances_json(&account.balances, account.currency),
        "created_at": rfc3339(account.timestamp),
    })
}

pub fn transfer_json(row: &TransferRow) -> Value {
    let record = &row.record;
    let t = &record.transfer;
    json!({
        "id": t.id.to_string(),
        "debit_account_id": t.debit_account_id.to_string(),
        "credit_account_id": t.credit_account_id.to_string(),
        "amount": format_amount(t.amount, t.currency),
        "currency": t.currency.code(),
        "code": t.code,
        "flags": t.flags.names(),
        "pending_id": optional_id(t.pending_id.0),
        "timeout_secs": t.timeout_secs,
        "reference": optional_id(t.reference),
        "result": record.result.code(),
        "pending_status": record.pending_status.name(),
        "timestamp": rfc3339(t.timestamp),
        "timestamp_ns": t.timestamp.to_string(),
    })
}

fn check_batch_size(len: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::bad_request(
            "batch_empty",
            "send at least one item",
        ));
    }
    if len > BATCH_EVENTS_MAX {
        return Err(ApiError::bad_request(
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
    Rejected(Vec<(u128, &'static str, bool)>),
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> BatchError {
        BatchError::Store(error)
    }
}

/// Answers a batch: the per-item results, or, if any was rejected, a 4xx error carrying them.
fn batch_response(
    outcome: Result<Vec<(u128, &'static str)>, BatchError>,
) -> Result<Json<Value>, ApiError> {
    let rejected = match outcome {
        Ok(results) => {
            let results: Vec<Value> = results
                .into_iter()
                .map(|(id, result)| json!({ "id": TransferId(id).to_string(), "result": result }))
                .collect();
            return Ok(Json(json!({ "results": results })));
        }
        Err(BatchError::Store(error)) => return Err(error.into()),
        Err(BatchError::Rejected(rejected)) => rejected,
    };
    // The cause is the rejected item itself, not the ones that failed along with it.
    let not_applied = |code: &str, success: bool| success || code == "linked_event_failed";
    let index = rejected
        .iter()
        .position(|(_, code, success)| !not_applied(code, *success))
        .unwrap_or(0);
    let first = rejected.get(index).map_or("rejected", |(_, code, _)| *code);
    let conflict = first.starts_with("exists_with_different") || first == "id_already_failed";
    let status = if conflict {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let results: Vec<Value> = rejected
        .iter()
        .map(|(id, code, success)| {
            let result = if not_applied(code, *success) {
                "not_applied"
            } else {
                code
            };
            json!({ "id": TransferId(*id).to_string(), "result": result })
        })
        .collect();
    Err(ApiError::new(
        status,
        first,
        format!("item {index} was rejected ({first}); nothing in this batch was written"),
    )
    .with_details("results", Value::Array(results)))
}

pub async fn create_accounts(
    State(state): State<AppState>,
    ApiJson(inputs): ApiJson<Vec<AccountInput>>,
) -> Result<Json<Value>, ApiError> {
    check_batch_size(inputs.len())?;
    let accounts = parse_all(inputs, AccountInput::into_account)?;
    let outcome = state
        .store
        .write(move |tx| {
            let results = tx.create_accounts(&accounts);
            let items = accounts
                .iter()
                .zip(&results)
                .map(|(a, r)| (a.id.0, r.code(), r.is_success()));
            if results.iter().all(|r| r.is_success()) {
                Ok(items.map(|(id, code, _)| (id, code)).collect())
            } else {
                Err(BatchError::Rejected(items.collect()))
            }
        })
        .await;
    batch_response(outcome)
}

pub async fn create_transfers(
    State(state): State<AppState>,
    ApiJson(inputs): ApiJson<Vec<TransferInput>>,
) -> Result<Json<Value>, ApiError> {
    check_batch_size(inputs.len())?;
    let transfers = parse_all(inputs, TransferInput::into_transfer)?;
    // All or nothing; a rejected transfer's failure is still remembered (so the operation
    // commits), and a retry of its id answers id_already_failed rather than succeeding later.
    let outcome = state
        .store
        .write(move |tx| {
            let results = tx.create_transfers_atomically(&transfers)?;
            let items: Vec<(u128, &'static str, bool)> = transfers
                .iter()
                .zip(&results)
                .map(|(t, r)| (t.id.0, r.code(), r.is_success()))
                .collect();
            Ok::<_, StoreError>(items)
        })
        .await;
    let outcome = match outcome {
        Ok(items) if items.iter().all(|(_, _, success)| *success) => {
            Ok(items.into_iter().map(|(id, code, _)| (id, code)).collect())
        }
        Ok(items) => Err(BatchError::Rejected(items)),
        Err(error) => Err(BatchError::Store(error)),
    };
    batch_response(outcome)
}

pub async fn get_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = AccountId(parse_id("account id", &id)?);
    match state.store.account(id).await? {
        Some(row) => Ok(Json(account_json(&row))),
        None => Err(ApiError::not_found(format!("no account {id}"))),
    }
}

pub async fn get_transfer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = TransferId(parse_id("transfer id", &id)?);
    match state.store.transfer(id).await? {
        Some(row) => Ok(Json(transfer_json(&row))),
        None => Err(ApiError::not_found(format!("no transfer {id}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn list_account_transfers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|error| ApiError::bad_request("invalid_query", error.body_text()))?;
    let id = AccountId(parse_id("account id", &id)?);
    let limit = query.limit.unwrap_or(PAGE_TRANSFERS_DEFAULT);
    if !(1..=PAGE_TRANSFERS_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
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
                    ApiError::bad_request(
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
    let transfers: Vec<Value> = rows.iter().map(transfer_json).collect();
    Ok(Json(
        json!({ "transfers": transfers, "next_cursor": next.map(|n| n.to_string()) }),
    ))
}
