//! The consumer pays over HTTP, under `/v1/me/`: scan a code (text or picture), pay it, see a
//! payment, confirm or decline a payment-code charge waiting for the PIN, enrol a device for
//! payment codes. Handlers only translate; the rules live in `cashless_payments::pay` and
//! `cashless_payments::cashier`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use cashless_payments::pay::{PayInput, PaycodeEnrolment, PaymentView, ScanView};
use serde::Deserialize;
use utoipa::ToSchema;

use cashless_kernel::ServiceError;
use cashless_kernel::wire::{self, TypedAmount};
use cashless_ledger::{Currency, Money};
use cashless_wallet::confirm::Confirmation;

use crate::AppState;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{Bytes, Path, Query};
use crate::json::ApiJson;
use crate::wallet_api::{Consumer, idempotency_key};
use cashless_payments::ids::PaymentId;

use crate::pictures::{PictureQuery, read_qr_picture};

/// A typed amount (static codes are in CNY), parsed here rather than in the service.
fn typed(amount: Option<&str>) -> Result<Option<Money>, ServiceError> {
    amount
        .map(|text| wire::money(text, Currency::CNY))
        .transpose()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The scanned EMVCo payload.
    pub payload: String,
    /// The amount typed for a static code, to learn whether the PIN will be needed.
    pub amount: Option<String>,
}

/// What a scanned code is: merchant, amount (dynamic), whether the PIN will be asked.
#[utoipa::path(post, path = "/v1/me/scan", tag = "payments", request_body = ScanRequest, security(("consumer" = [])),
    responses((status = 200, body = ScanView), (status = 422, body = ErrorBody, description = "qr_invalid (with the parser's reason), qr_foreign_scheme")))]
pub async fn scan(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Json<ScanView>, ApiError> {
    Ok(Json(
        state
            .payments
            .scan(
                &session,
                &request.payload,
                typed(request.amount.as_deref())?,
            )
            .await?,
    ))
}

/// A QR code read from a picture, and what it is.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ScannedImage {
    /// The EMVCo payload in the picture: pay it with `POST /v1/me/payments`.
    pub payload: String,
    pub scan: ScanView,
}

/// Reads the QR code in a photo or screenshot (the PNG or JPEG bytes as the body) and says
/// what it is, as `POST /v1/me/scan` does.
#[utoipa::path(post, path = "/v1/me/scan-image", tag = "payments", security(("consumer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "a PNG or JPEG picture"),
    responses((status = 200, body = ScannedImage),
              (status = 422, body = ErrorBody, description = "no_qr_code, qr_undecodable, bad_image, qr_invalid, qr_foreign_scheme")))]
pub async fn scan_image(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Query(picture): Query<PictureQuery>,
    Bytes(body): Bytes,
) -> Result<Json<ScannedImage>, ApiError> {
    let payload = read_qr_picture(body.to_vec(), picture.live).await?;
    let scan = state.payments.scan(&session, &payload, None).await?;
    Ok(Json(ScannedImage { payload, scan }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub payload: String,
    /// For a static code: the amount the payer typed.
    pub amount: Option<String>,
    /// Needed above the password-free amount (1,000 CNY) or after 10 password-free payments a
    /// day: the PIN, or instead the device's signature (`device_signature` and `signed_at`).
    pub pin: Option<String>,
    /// Paying with the phone (fingerprint, face): 128 hex digits, the device key's Ed25519
    /// signature over `cashless-device-v1\npay\n<device id>\n<signed_at>\n<Idempotency-Key>\n<payload>\n<amount or "">`.
    /// The device must have turned it on with `POST /v1/me/device-pay`.
    pub device_signature: Option<String>,
    /// When the device signed, Unix seconds (±5 minutes).
    pub signed_at: Option<i64>,
}

impl std::fmt::Debug for PayRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayRequest")
            .field("payload", &self.payload)
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

/// Pays a scanned static or dynamic code (needs an Idempotency-Key).
#[utoipa::path(post, path = "/v1/me/payments", tag = "payments", request_body = PayRequest, security(("consumer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per payment; a retry with the same key answers the same payment")),
    responses((status = 200, body = PaymentView),
              (status = 403, body = ErrorBody, description = "pin_required, pin_incorrect, device_signature_invalid, device_signature_stale"),
              (status = 409, body = ErrorBody, description = "device_pay_not_enabled"),
              (status = 423, body = ErrorBody, description = "pin_locked"),
              (status = 422, body = ErrorBody, description = "insufficient_balance, order_expired, order_closed, qr_foreign_scheme, daily_limit_exceeded")))]
pub async fn pay(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PayRequest>,
) -> Result<Json<PaymentView>, ApiError> {
    // A missing key is said first, as for any request that moves money.
    cashless_kernel::idempotency::idempotency_key(idempotency_key(&headers))?;
    let input = PayInput {
        payload: request.payload,
        amount: request
            .amount
            .as_deref()
            .map(|text| TypedAmount::parse(text, Currency::CNY))
            .transpose()?,
        confirmation: Confirmation::from_request(
            request.pin,
            request.device_signature,
            request.signed_at,
        )?,
    };
    Ok(Json(
        state
            .payments
            .pay(&session, idempotency_key(&headers), input)
            .await?,
    ))
}

/// One of the caller's payments.
#[utoipa::path(get, path = "/v1/me/payments/{id}", tag = "payments", security(("consumer" = [])),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody)))]
pub async fn payment(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    Ok(Json(
        state
            .payments
            .payment(&session, &PaymentId::parse(&id)?)
            .await?,
    ))
}

/// Payment-code payments waiting for the caller's PIN.
#[utoipa::path(get, path = "/v1/me/payments/pending", tag = "payments", security(("consumer" = [])),
    responses((status = 200, body = PendingPayments)))]
pub async fn pending(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<PendingPayments>, ApiError> {
    Ok(Json(PendingPayments {
        payments: state.payments.pending_payments(&session).await?,
    }))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PendingPayments {
    pub payments: Vec<PaymentView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub pin: Option<String>,
    /// The device key's signature over
    /// `cashless-device-v1\nconfirm\n<device id>\n<signed_at>\n<payment id>`.
    pub device_signature: Option<String>,
    pub signed_at: Option<i64>,
}

impl std::fmt::Debug for ConfirmRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmRequest")
            .field("signed_at", &self.signed_at)
            .finish_non_exhaustive()
    }
}

/// Confirms a `USERPAYING` payment with the PIN or the device.
#[utoipa::path(post, path = "/v1/me/payments/{id}/confirm", tag = "payments", request_body = ConfirmRequest, security(("consumer" = [])),
    responses((status = 200, body = PaymentView),
              (status = 403, body = ErrorBody, description = "pin_incorrect, device_signature_invalid, device_signature_stale"),
              (status = 423, body = ErrorBody, description = "pin_locked")))]
pub async fn confirm(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConfirmRequest>,
) -> Result<Json<PaymentView>, ApiError> {
    let confirmation =
        Confirmation::from_request(request.pin, request.device_signature, request.signed_at)?
            .ok_or_else(|| {
                ServiceError::invalid(
                    "confirmation_required",
                    "confirm with the PIN or with the device's signature",
                )
            })?;
    Ok(Json(
        state
            .payments
            .confirm_payment(&session, &PaymentId::parse(&id)?, &confirmation)
            .await?,
    ))
}

/// Declines a `USERPAYING` payment.
#[utoipa::path(post, path = "/v1/me/payments/{id}/decline", tag = "payments", security(("consumer" = [])),
    responses((status = 200, body = PaymentView)))]
pub async fn decline(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    Ok(Json(
        state
            .payments
            .decline_payment(&session, &PaymentId::parse(&id)?)
            .await?,
    ))
}

/// Enrols this device for payment codes: the slot and secret it makes codes from, offline.
#[utoipa::path(post, path = "/v1/me/paycode", tag = "payments", security(("consumer" = [])),
    responses((status = 200, body = PaycodeEnrolment)))]
pub async fn enrol_paycode(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<PaycodeEnrolment>, ApiError> {
    Ok(Json(state.payments.enrol_paycode(&session).await?))
}
