//! Transit over HTTP: a rider's pass (the certificate the phone's ride codes carry), what
//! gates download, their signed tap uploads, the rider's journeys and debts, the network and
//! fares, and the operator's gates, issuer keys and flags. The gate itself runs offline
//! (`cashless_transit::Gate`, `cashless gate`).

use axum::Json;
use axum::extract::State;

use crate::extract::{Bytes, Query};
use axum::http::{HeaderMap, StatusCode};
use cashless_rides::passes::{GateConfig, IssuerKeyView, TransitPass};
use cashless_rides::rides::{
    BatchResult, FlagView, GateInput, GateView, Journeys, NetworkView, TapBatch,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::json::ApiJson;
use crate::wallet_api::Consumer;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRequest {
    /// The transit operator: 1 Hangzhou Metro, 2 Hangzhou Bus.
    #[schema(example = 1, maximum = 65535)]
    pub operator: u16,
}

/// Issues (or renews) this phone's transit pass for an operator: a certificate for a day,
/// bound to the device key registered at sign-in. Needs a real name (L1).
#[utoipa::path(post, path = "/v1/me/transit/pass", tag = "transit", request_body = PassRequest,
    security(("consumer" = [])),
    responses((status = 200, body = TransitPass),
              (status = 403, body = ErrorBody, description = "kyc_required"),
              (status = 404, body = ErrorBody, description = "transit_operator_unknown"),
              (status = 409, body = ErrorBody, description = "device_key_required")))]
pub async fn pass(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<PassRequest>,
) -> Result<Json<TransitPass>, ApiError> {
    Ok(Json(
        state.rides.transit_pass(&session, request.operator).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct GateQuery {
    pub operator: u16,
}

/// What an operator's gates download: the issuer public keys (current and previous) and the
/// blacklist of account references. Public: none of it is secret.
#[utoipa::path(get, path = "/v1/transit/gate-config", tag = "transit",
    params(("operator" = u16, Query, description = "the transit operator", maximum = 65535)),
    responses((status = 200, body = GateConfig),
              (status = 404, body = ErrorBody, description = "transit_operator_unknown")))]
pub async fn gate_config(
    State(state): State<AppState>,
    Query(query): Query<GateQuery>,
) -> Result<Json<GateConfig>, ApiError> {
    Ok(Json(state.rides.gate_config(query.operator).await?))
}

/// Rotates the transit issuer key (operator): new passes are signed with a new key; gates
/// hold it and the previous one.
#[utoipa::path(post, path = "/v1/operator/transit/issuer-keys", tag = "operator",
    responses((status = 201, body = IssuerKeyView)))]
pub async fn rotate_issuer_key(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<(StatusCode, Json<IssuerKeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.rides.rotate_issuer_key().await?),
    ))
}

/// The rider's journeys, newest first, with what each cost and what is still owed.
#[utoipa::path(get, path = "/v1/me/transit/journeys", tag = "transit",
    security(("consumer" = [])),
    responses((status = 200, body = Journeys)))]
pub async fn journeys(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<Journeys>, ApiError> {
    Ok(Json(state.rides.journeys(&session).await?))
}

/// Pays the fares the rider owes from the balance. Paying clears the rider from the gates'
/// blacklist. Repeating it pays nothing twice.
#[utoipa::path(post, path = "/v1/me/transit/debts/pay", tag = "transit",
    security(("consumer" = [])),
    responses((status = 200, body = Journeys),
              (status = 422, body = ErrorBody, description = "insufficient_balance (details: owed)")))]
pub async fn pay_debts(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<Journeys>, ApiError> {
    Ok(Json(state.rides.pay_transit_debts(&session).await?))
}

/// An operator's lines, stations and fare rules. Public.
#[utoipa::path(get, path = "/v1/transit/network", tag = "transit",
    params(("operator" = u16, Query, description = "the transit operator", maximum = 65535)),
    responses((status = 200, body = NetworkView),
              (status = 404, body = ErrorBody, description = "transit_operator_unknown")))]
pub async fn network(
    State(state): State<AppState>,
    Query(query): Query<GateQuery>,
) -> Result<Json<NetworkView>, ApiError> {
    Ok(Json(state.rides.transit_network(query.operator).await?))
}

/// A gate uploads the taps it opened for. Authenticated by the gate's own key:
/// `Cashless-Gate-Id` names the gate and `Cashless-Gate-Signature` is the hex Ed25519
/// signature over `cashless-gate-batch-v1\n` followed by the body. Idempotent by
/// `batch_id`; batches may arrive in any order and days late. Every tap is checked again;
/// refused taps are listed, not priced.
#[utoipa::path(post, path = "/v1/transit/taps", tag = "transit", request_body = TapBatch,
    params(("Cashless-Gate-Id" = String, Header), ("Cashless-Gate-Signature" = String, Header)),
    responses((status = 200, body = BatchResult),
              (status = 422, body = ErrorBody, description = "body_invalid, gate_mismatch, batch_id_invalid, batch_too_large"),
              (status = 401, body = ErrorBody, description = "gate_signature_invalid"),
              (status = 409, body = ErrorBody, description = "batch_mismatch: another body under this batch id")))]
pub async fn upload_taps(
    State(state): State<AppState>,
    headers: HeaderMap,
    Bytes(body): Bytes,
) -> Result<Json<BatchResult>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(gate_id), Some(signature)) = (
        header("cashless-gate-id"),
        header("cashless-gate-signature"),
    ) else {
        return Err(cashless_kernel::ServiceError::new(
            cashless_kernel::ErrorKind::Unauthorized,
            "gate_signature_invalid",
            "sign the batch with the gate's registered key: Cashless-Gate-Id and Cashless-Gate-Signature",
        )
        .into());
    };
    Ok(Json(
        state.rides.upload_taps(gate_id, signature, &body).await?,
    ))
}

/// A gate's headers: its id and its signature.
fn gate_headers(headers: &HeaderMap) -> Result<(&str, &str), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match (
        header("cashless-gate-id"),
        header("cashless-gate-signature"),
    ) {
        (Some(id), Some(signature)) => Ok((id, signature)),
        _ => Err(cashless_rides::rides::gate_refused().into()),
    }
}

/// Reads the QR code in a picture from a gate's camera (PNG or JPEG bytes as the body), for a
/// gate whose browser cannot read codes itself. Signed by the gate's key over
/// `cashless-gate-scan-v1\n` followed by the picture. The gate still decides offline: this
/// only turns pixels into text.
#[utoipa::path(post, path = "/v1/transit/scan-image", tag = "transit",
    params(("Cashless-Gate-Id" = String, Header), ("Cashless-Gate-Signature" = String, Header),
           ("live" = Option<bool>, Query, description = "a still from a live camera")),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = crate::pictures::PictureText),
              (status = 401, body = ErrorBody, description = "gate_signature_invalid"),
              (status = 422, body = ErrorBody, description = "no_qr_code, qr_undecodable, bad_image")))]
pub async fn scan_image(
    State(state): State<AppState>,
    Query(picture): Query<crate::pictures::PictureQuery>,
    headers: HeaderMap,
    Bytes(body): Bytes,
) -> Result<Json<crate::pictures::PictureText>, ApiError> {
    let (gate_id, signature) = gate_headers(&headers)?;
    state
        .rides
        .authenticate_gate(
            gate_id,
            cashless_rides::rides::SCAN_DOMAIN,
            signature,
            &body,
        )
        .await?;
    Ok(Json(crate::pictures::PictureText {
        text: crate::pictures::read_qr_picture(body.to_vec(), picture.live).await?,
    }))
}

/// Where a gate stands, as registered: the gate page asks with a signed empty body
/// (`cashless-gate-scan-v1\n` alone).
#[utoipa::path(get, path = "/v1/transit/gate", tag = "transit",
    params(("Cashless-Gate-Id" = String, Header), ("Cashless-Gate-Signature" = String, Header)),
    responses((status = 200, body = GateInput),
              (status = 401, body = ErrorBody, description = "gate_signature_invalid")))]
pub async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<GateInput>, ApiError> {
    let (gate_id, signature) = gate_headers(&headers)?;
    Ok(Json(
        state
            .rides
            .authenticate_gate(gate_id, cashless_rides::rides::SCAN_DOMAIN, signature, b"")
            .await?,
    ))
}

/// Registers a gate with its place and the key it signs uploads with (operator); the same
/// gate id again moves the gate or replaces its key.
#[utoipa::path(post, path = "/v1/operator/transit/gates", tag = "operator", request_body = GateInput,
    responses((status = 201, body = GateView), (status = 200, body = GateView, description = "updated"),
              (status = 404, body = ErrorBody, description = "transit_operator_unknown"),
              (status = 422, body = ErrorBody, description = "transit_line_unknown, transit_station_unknown")))]
pub async fn register_gate(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJson(input): ApiJson<GateInput>,
) -> Result<(StatusCode, Json<GateView>), ApiError> {
    let (created, view) = state.rides.register_gate(input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// Codes seen at two gates (operator): charged once, listed here to look into.
#[utoipa::path(get, path = "/v1/operator/transit/flags", tag = "operator",
    params(("operator" = u16, Query, description = "the transit operator", maximum = 65535)),
    responses((status = 200, body = Vec<FlagView>)))]
pub async fn flags(
    State(state): State<AppState>,
    _operator: Operator,
    Query(query): Query<GateQuery>,
) -> Result<Json<Vec<FlagView>>, ApiError> {
    Ok(Json(state.rides.transit_flags(query.operator).await?))
}
