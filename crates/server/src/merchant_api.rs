//! Merchants over HTTP: the operator's onboarding routes, the signed merchant API under
//! `/v1/merchant/`, and the platform's public notification key (the consumer's side of a
//! payment is `pay_api`). Handlers only translate; the rules live in
//! `cashless_payments`.
//!
//! Merchant requests are signed (see `cashless_payments::signing`): the [`Signed`] extractor
//! reads the raw body, checks the signature over method, path, timestamp, nonce and the body's
//! SHA-256, and only then parses the JSON.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use cashless_kernel::wire;
use cashless_ledger::Currency;
use cashless_outbox::EventPage;
use cashless_payments::merchants::{
    KeyView, MerchantCaller, MerchantInput, MerchantView, Revocation, Revoked, StoreView,
    TerminalView,
};
use cashless_payments::order::{OrderView, RefundView};
use cashless_payments::orders::{PrecreateInput, RefundInput};
use cashless_payments::pay::PaycodeInput;
use cashless_payments::reports::{OrderFilter, OrderPage, Takings};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{Bytes, Path, Query};
use crate::json::ApiJson;
use crate::pictures::{PictureQuery, PictureText, read_qr_picture};
use cashless_outbox::ids::EventId;
use cashless_payments::ids::{MerchantId, StoreId, TerminalId};

/// A request signed by a merchant's key, with its JSON body (`()` for none). Its nonce is
/// used up before the handler runs.
#[derive(Debug)]
pub struct Signed<T>(pub MerchantCaller, pub T);

/// A signed request whose operation uses up the nonce itself, in its own write (one commit
/// instead of two, for the busiest endpoint). Only for operations that call
/// `MerchantCaller::claim_in` first thing in their write.
#[derive(Debug)]
pub struct SignedWrite<T>(pub MerchantCaller, pub T);

/// Body types of signed requests: JSON, or nothing.
pub trait SignedBody: Sized {
    fn from_body(bytes: &[u8]) -> Result<Self, ApiError>;
}

impl SignedBody for () {
    fn from_body(bytes: &[u8]) -> Result<(), ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes == b"{}" {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                "invalid_request",
                "this endpoint takes no body",
            ))
        }
    }
}

/// A JSON body of a signed request.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> SignedBody for Body<T> {
    fn from_body(bytes: &[u8]) -> Result<Body<T>, ApiError> {
        if bytes
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|&byte| byte != b'{')
        {
            return Err(ApiError::bad_request(
                "invalid_request",
                "the body must be an object",
            ));
        }
        serde_json::from_slice(bytes).map(Body).map_err(|error| {
            let code = if error.is_syntax() || error.is_eof() {
                "invalid_json"
            } else {
                "invalid_request"
            };
            let message = if code == "invalid_json" {
                "the body is not valid JSON".to_owned()
            } else {
                crate::json::plain_serde(&error.to_string())
            };
            ApiError::bad_request(code, message)
        })
    }
}

impl<T: SignedBody> FromRequest<AppState> for SignedWrite<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<SignedWrite<T>, ApiError> {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |pq| pq.as_str().to_owned(),
        );
        let authorization = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let Bytes(body) = Bytes::from_request(request, state).await?;
        let caller = state
            .payments
            .authenticate(authorization.as_deref(), &method, &path, &body)
            .await?;
        Ok(SignedWrite(caller, T::from_body(&body)?))
    }
}

impl<T: SignedBody + Send> FromRequest<AppState> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Signed<T>, ApiError> {
        let SignedWrite(mut caller, body) = SignedWrite::from_request(request, state).await?;
        state.payments.claim_nonce(&mut caller).await?;
        Ok(Signed(caller, body))
    }
}

// ---- operator: onboarding ---------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardRequest {
    #[schema(example = "Hangzhou West Lake Noodles Co., Ltd.")]
    pub legal_name: String,
    /// Latin letters, at most 25 (it goes in the QR code).
    #[schema(example = "West Lake Noodles")]
    pub display_name: String,
    #[schema(example = "西湖面馆")]
    pub chinese_name: Option<String>,
    /// ISO 18245 merchant category code.
    #[schema(example = "5812")]
    pub mcc: String,
    #[schema(example = "Hangzhou")]
    pub city: String,
    /// Unified social credit code (GB 32100), 18 characters.
    #[schema(example = "91330100799655058B")]
    pub licence_number: String,
    pub settlement_bank: String,
    pub settlement_account: String,
    /// Basis points; default 60 (0.60%).
    pub fee_rate_bps: Option<u32>,
    pub notify_url: Option<String>,
    /// The merchant's first request-signing key: raw Ed25519, 64 hex digits.
    pub public_key: Option<String>,
    /// The largest order the merchant may create, CNY (default 20,000.00, which is also the
    /// most: no payer may pay more at once). A street stall might take `"500.00"`.
    #[schema(example = "5000.00")]
    pub order_amount_max: Option<String>,
}

/// Onboards a merchant (operator).
#[utoipa::path(post, path = "/v1/operator/merchants", tag = "operator", request_body = OnboardRequest,
    responses((status = 201, body = MerchantView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn onboard(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJson(request): ApiJson<OnboardRequest>,
) -> Result<(StatusCode, Json<MerchantView>), ApiError> {
    let input = MerchantInput {
        legal_name: request.legal_name,
        display_name: request.display_name,
        chinese_name: request.chinese_name,
        mcc: request.mcc,
        city: request.city,
        licence_number: request.licence_number,
        settlement_bank: request.settlement_bank,
        settlement_account: request.settlement_account,
        fee_rate_bps: request.fee_rate_bps,
        notify_url: request.notify_url,
        public_key: request.public_key,
        order_amount_max: request
            .order_amount_max
            .as_deref()
            .map(|max| cashless_kernel::wire::positive_amount(max, cashless_ledger::Currency::CNY))
            .transpose()?,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.payments.onboard(input).await?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderAmountMaxRequest {
    /// CNY, at most 20,000.00; `null` goes back to the platform's default.
    #[schema(example = "500.00")]
    pub order_amount_max: Option<String>,
}

/// Sets the largest order a merchant may create (operator); orders above it are refused
/// before they exist.
#[utoipa::path(put, path = "/v1/operator/merchants/{id}/order-amount-max", tag = "operator",
    request_body = OrderAmountMaxRequest,
    responses((status = 200, body = MerchantView),
              (status = 404, body = ErrorBody, description = "merchant_not_found"),
              (status = 422, body = ErrorBody, description = "amount_invalid, order_amount_max_invalid")))]
pub async fn set_order_amount_max(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<OrderAmountMaxRequest>,
) -> Result<Json<MerchantView>, ApiError> {
    let max = request
        .order_amount_max
        .as_deref()
        .map(|max| cashless_kernel::wire::positive_amount(max, cashless_ledger::Currency::CNY))
        .transpose()?;
    Ok(Json(
        state
            .payments
            .set_order_amount_max(&MerchantId::parse(&id)?, max)
            .await?,
    ))
}

/// A merchant with its stores, terminals, keys and static codes (operator).
#[utoipa::path(get, path = "/v1/operator/merchants/{id}", tag = "operator",
    responses((status = 200, body = MerchantView), (status = 404, body = ErrorBody)))]
pub async fn operator_merchant(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<Json<MerchantView>, ApiError> {
    Ok(Json(
        state.payments.merchant(&MerchantId::parse(&id)?).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreRequest {
    pub name: String,
    pub address: String,
}

/// Adds a store (operator).
#[utoipa::path(post, path = "/v1/operator/merchants/{id}/stores", tag = "operator", request_body = StoreRequest,
    responses((status = 201, body = StoreView), (status = 404, body = ErrorBody)))]
pub async fn add_store(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<StoreRequest>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    let store = state
        .payments
        .add_store(&MerchantId::parse(&id)?, &request.name, &request.address)
        .await?;
    Ok((StatusCode::CREATED, Json(store)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalRequest {
    #[schema(example = "Till 1")]
    pub label: String,
}

/// Adds a terminal to a store (operator).
#[utoipa::path(post, path = "/v1/operator/merchants/{id}/stores/{store_id}/terminals", tag = "operator",
    request_body = TerminalRequest, responses((status = 201, body = TerminalView), (status = 404, body = ErrorBody)))]
pub async fn add_terminal(
    State(state): State<AppState>,
    _operator: Operator,
    Path((id, store_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<TerminalRequest>,
) -> Result<(StatusCode, Json<TerminalView>), ApiError> {
    let terminal = state
        .payments
        .add_terminal(
            &MerchantId::parse(&id)?,
            &StoreId::parse(&store_id)?,
            &request.label,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(terminal)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Raw Ed25519 public key, 64 hex digits.
    pub public_key: String,
}

/// Registers a till key (signed with a full key): it takes payments and looks them up only.
#[utoipa::path(post, path = "/v1/merchant/till-keys", tag = "merchant", request_body = KeyRequest,
    responses((status = 201, body = KeyView), (status = 403, body = ErrorBody, description = "key_scope, key_rotated_out"),
              (status = 409, body = ErrorBody, description = "key_exists"),
              (status = 422, body = ErrorBody, description = "keys_max")))]
pub async fn add_till_key(
    State(state): State<AppState>,
    Signed(caller, Body(request)): Signed<Body<KeyRequest>>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .payments
                .add_till_key(caller, &request.public_key)
                .await?,
        ),
    ))
}

/// Re-confirms a till key with the merchant's current key: revoking the key that made it no
/// longer revokes it.
#[utoipa::path(post, path = "/v1/merchant/till-keys/{key_id}/confirm", tag = "merchant",
    responses((status = 204), (status = 403, body = ErrorBody, description = "key_scope, key_rotated_out: only the current full key confirms"),
              (status = 404, body = ErrorBody, description = "key_not_found")))]
pub async fn confirm_till_key(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<StatusCode, ApiError> {
    state.payments.confirm_till_key(caller, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a till key at once (a lost or stolen till).
#[utoipa::path(delete, path = "/v1/merchant/till-keys/{key_id}", tag = "merchant",
    responses((status = 204), (status = 404, body = ErrorBody, description = "key_not_found")))]
pub async fn revoke_till_key(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<StatusCode, ApiError> {
    state.payments.revoke_till_key(caller, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a merchant key at once (operator): for a key that leaked. The till keys and staff
/// it granted go with it, unless the merchant's current key re-confirmed them; the answer
/// lists them, and the keys it rotated in (not revoked: revoke them too if the rotation was
/// not the merchant's). A key past its overlap may be revoked too (what it granted goes).
/// `?dry_run=true` answers what would go, and changes nothing.
#[utoipa::path(delete, path = "/v1/operator/merchants/{id}/keys/{key_id}", tag = "operator", params(RevokeQuery),
    responses((status = 200, body = Revoked), (status = 404, body = ErrorBody, description = "merchant_not_found, key_not_found")))]
pub async fn operator_revoke_key(
    State(state): State<AppState>,
    _operator: Operator,
    Path((id, key_id)): Path<(String, String)>,
    Query(query): Query<RevokeQuery>,
) -> Result<Json<Revoked>, ApiError> {
    let mode = if query.dry_run.unwrap_or(false) {
        Revocation::DryRun
    } else {
        Revocation::Revoke
    };
    Ok(Json(
        state
            .payments
            .revoke_key(&MerchantId::parse(&id)?, &key_id, mode)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevokeQuery {
    /// `true`: answer what the revocation would take, and change nothing.
    pub dry_run: Option<bool>,
}

/// Registers a merchant key (operator); older keys expire after the overlap period.
#[utoipa::path(post, path = "/v1/operator/merchants/{id}/keys", tag = "operator", request_body = KeyRequest,
    responses((status = 201, body = KeyView),
              (status = 409, body = ErrorBody, description = "key_exists"),
              (status = 422, body = ErrorBody, description = "keys_max")))]
pub async fn operator_add_key(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<KeyRequest>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .payments
                .add_key(&MerchantId::parse(&id)?, &request.public_key, None)
                .await?,
        ),
    ))
}

// ---- merchant API (signed) ---------------------------------------------------------------------

/// The calling merchant.
#[utoipa::path(get, path = "/v1/merchant/profile", tag = "merchant", responses((status = 200, body = MerchantView), (status = 401, body = ErrorBody)))]
pub async fn profile(
    State(state): State<AppState>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<MerchantView>, ApiError> {
    Ok(Json(state.payments.merchant_profile(caller).await?))
}

/// Rotates the signing key: the new key works at once, the old ones until the overlap ends.
#[utoipa::path(post, path = "/v1/merchant/keys", tag = "merchant", request_body = KeyRequest,
    responses((status = 201, body = KeyView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "key_scope, key_rotated_out"),
              (status = 409, body = ErrorBody, description = "key_exists"),
              (status = 422, body = ErrorBody, description = "keys_max")))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Signed(caller, Body(request)): Signed<Body<KeyRequest>>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let merchant_id = caller.merchant_id.clone();
    let key = state
        .payments
        .add_key(
            &MerchantId::parse(&merchant_id)?,
            &request.public_key,
            Some(caller),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyUrlRequest {
    pub notify_url: String,
}

/// Sets the URL notifications are POSTed to.
#[utoipa::path(put, path = "/v1/merchant/notify-url", tag = "merchant", request_body = NotifyUrlRequest,
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn set_notify_url(
    State(state): State<AppState>,
    Signed(caller, Body(request)): Signed<Body<NotifyUrlRequest>>,
) -> Result<StatusCode, ApiError> {
    state
        .payments
        .set_notify_url(caller, &request.notify_url)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrecreateRequest {
    #[schema(example = "20261124-0001")]
    pub out_trade_no: String,
    #[schema(example = "28.00")]
    pub amount: String,
    /// CNY (the default) is the only currency orders take.
    pub currency: Option<String>,
    #[schema(example = "2 bowls of noodles")]
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// Default 7200 (2 h), at most 15 days.
    pub expires_in_secs: Option<u64>,
}

/// Creates an order and its dynamic code (precreate). Same out_trade_no and fields: the same order.
#[utoipa::path(post, path = "/v1/merchant/orders", tag = "merchant", request_body = PrecreateRequest,
    responses((status = 200, body = OrderView),
              (status = 404, body = ErrorBody, description = "store_not_found, terminal_not_found"),
              (status = 409, body = ErrorBody, description = "out_trade_no_conflict")))]
pub async fn precreate(
    State(state): State<AppState>,
    SignedWrite(caller, Body(request)): SignedWrite<Body<PrecreateRequest>>,
) -> Result<Json<OrderView>, ApiError> {
    let input = PrecreateInput {
        out_trade_no: request.out_trade_no,
        amount: wire::money_in(&request.amount, request.currency.as_deref())?,
        subject: request.subject,
        store_id: StoreId::parse_opt(request.store_id.as_deref())?,
        terminal_id: TerminalId::parse_opt(request.terminal_id.as_deref())?,
        expires_in_secs: request.expires_in_secs,
    };
    Ok(Json(state.payments.precreate(caller, input).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaycodeRequest {
    /// The 18 digits scanned from the payer's phone.
    #[schema(example = "280000001012345678")]
    pub auth_code: String,
    pub out_trade_no: String,
    pub amount: String,
    pub currency: Option<String>,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
}

/// Charges the payer's payment code. `SUCCESS` at once, or `USERPAYING` while the payer
/// confirms with the PIN (poll `GET /v1/merchant/orders/{out_trade_no}`).
#[utoipa::path(post, path = "/v1/merchant/orders/paycode", tag = "merchant", request_body = PaycodeRequest,
    responses((status = 200, body = OrderView),
              (status = 404, body = ErrorBody, description = "paycode_unknown"),
              (status = 409, body = ErrorBody, description = "paycode_used"),
              (status = 429, body = ErrorBody, description = "paycode_guesses_limited: too many codes that did not pay this minute or today")))]
pub async fn pay_by_paycode(
    State(state): State<AppState>,
    Signed(caller, Body(request)): Signed<Body<PaycodeRequest>>,
) -> Result<Json<OrderView>, ApiError> {
    let input = PaycodeInput {
        auth_code: request.auth_code,
        out_trade_no: request.out_trade_no,
        amount: wire::money_in(&request.amount, request.currency.as_deref())?,
        subject: request.subject,
        store_id: StoreId::parse_opt(request.store_id.as_deref())?,
        terminal_id: TerminalId::parse_opt(request.terminal_id.as_deref())?,
    };
    Ok(Json(state.payments.pay_by_paycode(caller, input).await?))
}

/// An order by the merchant's out_trade_no.
#[utoipa::path(get, path = "/v1/merchant/orders/{out_trade_no}", tag = "merchant",
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn query_order(
    State(state): State<AppState>,
    Path(out_trade_no): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        state.payments.query_order(caller, &out_trade_no).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QrImageQuery {
    /// `svg` (the default) or `png`.
    pub format: Option<String>,
    /// PNG only: pixels per module, 1 to 32 (default 8).
    #[param(minimum = 1, maximum = 32)]
    pub scale: Option<u32>,
    /// For the static code: the store's (default: the merchant's own).
    pub store_id: Option<String>,
}

/// A code as an image: SVG (scales for print) or PNG (for screens).
fn qr_image(payload: &str, query: &QrImageQuery) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let render_error = |error: cashless_emvqr::images::ImageError| {
        ApiError::invalid("qr_render_invalid", error.to_string())
    };
    let headers = |content_type: &'static str| {
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ]
    };
    if query.scale.is_some_and(|scale| !(1..=32).contains(&scale)) {
        return Err(ApiError::invalid("qr_scale_invalid", "scale is 1 to 32"));
    }
    match query.format.as_deref().unwrap_or("svg") {
        "svg" => {
            let svg = cashless_emvqr::images::render_svg(payload).map_err(render_error)?;
            Ok((headers("image/svg+xml"), svg).into_response())
        }
        "png" => {
            let png = cashless_emvqr::images::render_png(payload, query.scale.unwrap_or(8))
                .map_err(render_error)?;
            Ok((headers("image/png"), png).into_response())
        }
        _ => Err(ApiError::invalid(
            "qr_format_invalid",
            "format is svg or png",
        )),
    }
}

/// The dynamic code of an order waiting for payment, as an image for the POS screen.
#[utoipa::path(get, path = "/v1/merchant/orders/{out_trade_no}/qr", tag = "merchant", params(QrImageQuery),
    responses((status = 200, content_type = "image/svg+xml", description = "the code (or image/png)"),
              (status = 409, body = ErrorBody, description = "order_not_payable")))]
pub async fn order_qr(
    State(state): State<AppState>,
    Path(out_trade_no): Path<String>,
    Query(query): Query<QrImageQuery>,
    Signed(caller, ()): Signed<()>,
) -> Result<axum::response::Response, ApiError> {
    let order = state.payments.query_order(caller, &out_trade_no).await?;
    let payload = order.qr_code.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "order_not_payable",
            "only an order waiting for payment has a code",
        )
    })?;
    qr_image(&payload, &query)
}

/// The merchant's (or one store's) static code as an image, to print.
#[utoipa::path(get, path = "/v1/merchant/qr", tag = "merchant", params(QrImageQuery),
    responses((status = 200, content_type = "image/svg+xml", description = "the code (or image/png)"),
              (status = 404, body = ErrorBody, description = "store_not_found")))]
pub async fn static_qr(
    State(state): State<AppState>,
    Query(query): Query<QrImageQuery>,
    Signed(caller, ()): Signed<()>,
) -> Result<axum::response::Response, ApiError> {
    let merchant = state.payments.merchant_profile(caller).await?;
    let payload = match query.store_id.as_deref() {
        None => merchant.static_code,
        Some(store_id) => merchant
            .stores
            .into_iter()
            .find(|store| store.id == store_id)
            .map(|store| store.static_code)
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "store_not_found", "no such store")
            })?,
    };
    qr_image(&payload, &query)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderListQuery {
    /// `WAIT_BUYER_PAY`, `USERPAYING`, `SUCCESS`, `CLOSED` or `FINISHED`.
    pub status: Option<String>,
    /// Orders created on this China day, `YYYY-MM-DD`.
    pub day: Option<String>,
    /// The start of an `out_trade_no`.
    pub q: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The merchant's orders, newest first, filtered by status and day, searched by order number.
#[utoipa::path(get, path = "/v1/merchant/orders", tag = "merchant", params(OrderListQuery),
    responses((status = 200, body = OrderPage), (status = 422, body = ErrorBody, description = "status_invalid, day_invalid, limit_invalid")))]
pub async fn list_orders(
    State(state): State<AppState>,
    Query(query): Query<OrderListQuery>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<OrderPage>, ApiError> {
    let filter = OrderFilter {
        status: query.status,
        day: query.day,
        q: query.q,
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(state.payments.list_orders(caller, filter).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TakingsQuery {
    /// A China day, `YYYY-MM-DD`; default today.
    pub day: Option<String>,
}

/// A day's takings: orders paid, gross, refunds, the platform's fees, net.
#[utoipa::path(get, path = "/v1/merchant/takings", tag = "merchant", params(TakingsQuery),
    responses((status = 200, body = Takings), (status = 422, body = ErrorBody, description = "day_invalid")))]
pub async fn takings(
    State(state): State<AppState>,
    Query(query): Query<TakingsQuery>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<Takings>, ApiError> {
    Ok(Json(
        state.payments.takings(caller, query.day.as_deref()).await?,
    ))
}

/// Sends an undelivered notification again now.
#[utoipa::path(post, path = "/v1/merchant/events/{id}/retry", tag = "merchant",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "event_delivered, notify_url_missing")))]
pub async fn retry_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<StatusCode, ApiError> {
    state
        .payments
        .retry_event(caller, &EventId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes an unpaid order.
#[utoipa::path(post, path = "/v1/merchant/orders/{out_trade_no}/close", tag = "merchant",
    responses((status = 200, body = OrderView), (status = 422, body = ErrorBody, description = "order_paid")))]
pub async fn close_order(
    State(state): State<AppState>,
    Path(out_trade_no): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        state.payments.close_order(caller, &out_trade_no).await?,
    ))
}

/// Cancels an order: closes it if unpaid, refunds it in full if paid in the last 24 hours.
#[utoipa::path(post, path = "/v1/merchant/orders/{out_trade_no}/cancel", tag = "merchant",
    responses((status = 200, body = OrderView), (status = 422, body = ErrorBody, description = "cancel_window_over")))]
pub async fn cancel_order(
    State(state): State<AppState>,
    Path(out_trade_no): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        state.payments.cancel_order(caller, &out_trade_no).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The merchant's refund number: a retry with the same one answers the same refund.
    pub out_request_no: String,
    pub amount: String,
    pub reason: Option<String>,
}

/// Refunds part or all of a paid order.
#[utoipa::path(post, path = "/v1/merchant/orders/{out_trade_no}/refunds", tag = "merchant", request_body = RefundRequest,
    responses((status = 200, body = RefundView), (status = 422, body = ErrorBody, description = "refund_exceeds_paid, order_not_paid, order_closed")))]
pub async fn refund(
    State(state): State<AppState>,
    Path(out_trade_no): Path<String>,
    Signed(caller, Body(request)): Signed<Body<RefundRequest>>,
) -> Result<Json<RefundView>, ApiError> {
    let input = RefundInput {
        out_request_no: request.out_request_no,
        amount: wire::money(&request.amount, Currency::CNY)?,
        reason: request.reason,
    };
    Ok(Json(
        state.payments.refund(caller, &out_trade_no, input).await?,
    ))
}

/// A refund by its out_request_no.
#[utoipa::path(get, path = "/v1/merchant/orders/{out_trade_no}/refunds/{out_request_no}", tag = "merchant",
    responses((status = 200, body = RefundView), (status = 404, body = ErrorBody)))]
pub async fn refund_query(
    State(state): State<AppState>,
    Path((out_trade_no, out_request_no)): Path<(String, String)>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<RefundView>, ApiError> {
    Ok(Json(
        state
            .payments
            .refund_query(caller, &out_trade_no, &out_request_no)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub after: Option<String>,
    pub limit: Option<u32>,
    /// `oldest` (the default) or `newest` first.
    pub order: Option<String>,
    /// Only `delivered`, `pending`, `failed` or `no_notify_url` ones.
    pub delivery: Option<String>,
}

/// The merchant's notifications, oldest (or newest) first, with their delivery state.
#[utoipa::path(get, path = "/v1/merchant/events", tag = "merchant",
    params(("after" = Option<String>, Query), ("limit" = Option<u32>, Query),
           ("order" = Option<String>, Query, description = "oldest (default) or newest"),
           ("delivery" = Option<String>, Query, description = "delivered, pending, failed or no_notify_url")),
    responses((status = 200, body = EventPage), (status = 422, body = ErrorBody, description = "order_invalid, delivery_invalid, limit_invalid")))]
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<EventPage>, ApiError> {
    let newest_first = match query.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "order_invalid",
                "order is oldest or newest",
            ));
        }
    };
    Ok(Json(
        state
            .payments
            .events(
                caller,
                cashless_outbox::EventsQuery {
                    after: query.after,
                    limit: query.limit,
                    newest_first,
                    delivery: query.delivery,
                },
            )
            .await?,
    ))
}

/// The platform's notification-signing keys (public).
#[utoipa::path(get, path = "/v1/platform/keys", tag = "merchant", responses((status = 200, body = PlatformKeys)))]
pub async fn platform_keys(State(state): State<AppState>) -> Json<PlatformKeys> {
    let key = state.payments.outbox().platform_key();
    Json(PlatformKeys {
        keys: vec![PlatformKeyView {
            id: key.key_id(),
            algorithm: "ed25519".to_owned(),
            public_key: key.public_key_hex(),
        }],
    })
}

/// The keys that sign notifications: verify a `Cashless-Signature` (`key_id="…",signature="…"`)
/// with the key of that id.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PlatformKeys {
    pub keys: Vec<PlatformKeyView>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PlatformKeyView {
    pub id: String,
    /// `ed25519`.
    pub algorithm: String,
    /// Raw Ed25519 public key, 64 hex digits.
    pub public_key: String,
}

/// The raw bytes of a signed request (a picture).
#[derive(Debug)]
pub struct Raw(pub Vec<u8>);

impl SignedBody for Raw {
    fn from_body(bytes: &[u8]) -> Result<Raw, ApiError> {
        Ok(Raw(bytes.to_vec()))
    }
}

/// Reads the QR code in a photo taken by the till's camera (the PNG or JPEG bytes as the
/// body, signed like any request): the customer's payment code, for a till whose browser
/// cannot read codes itself. It changes nothing, so its nonce is not recorded (a camera
/// sends a still a second): a replay only reads the same picture again.
#[utoipa::path(post, path = "/v1/merchant/scan-image", tag = "merchant",
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "a PNG or JPEG picture"),
    responses((status = 200, body = PictureText),
              (status = 422, body = ErrorBody, description = "no_qr_code, qr_undecodable, bad_image")))]
pub async fn merchant_scan_image(
    Query(picture): Query<PictureQuery>,
    SignedWrite(_caller, Raw(body)): SignedWrite<Raw>,
) -> Result<Json<PictureText>, ApiError> {
    Ok(Json(PictureText {
        text: read_qr_picture(body, picture.live).await?,
    }))
}
