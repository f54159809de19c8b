//! Transit over HTTP: a rider's pass (the certificate the phone's ride codes carry), what
//! gates download, and the operator's issuer key rotation. The gate itself runs offline
//! (`cashless_transit::Gate`, `cashless gate`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use cashless_payments::transit::{GateConfig, IssuerKeyView, TransitPass};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::wallet_api::{Consumer, ErrorBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRequest {
    /// The transit operator: 1 Hangzhou Metro, 2 Hangzhou Bus.
    #[schema(example = 1)]
    pub operator: u16,
}

/// Issues (or renews) this phone's transit pass for an operator: a certificate for a day,
/// bound to the device key registered at sign-in. Needs a real name (L1).
#[utoipa::path(post, path = "/v1/me/transit/pass", tag = "transit", request_body = PassRequest,
    security(("session" = [])),
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
        state
            .payments
            .transit_pass(&session, request.operator)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct GateQuery {
    pub operator: u16,
}

/// What an operator's gates download: the issuer public keys (current and previous) and the
/// blacklist of account references. Public: none of it is secret.
#[utoipa::path(get, path = "/v1/transit/gate-config", tag = "transit",
    params(("operator" = u16, Query, description = "the transit operator")),
    responses((status = 200, body = GateConfig),
              (status = 404, body = ErrorBody, description = "transit_operator_unknown")))]
pub async fn gate_config(
    State(state): State<AppState>,
    Query(query): Query<GateQuery>,
) -> Result<Json<GateConfig>, ApiError> {
    Ok(Json(state.payments.gate_config(query.operator).await?))
}

/// Rotates the transit issuer key (operator): new passes are signed with a new key; gates
/// hold it and the previous one.
#[utoipa::path(post, path = "/v1/operator/transit/issuer-keys", tag = "operator",
    responses((status = 201, body = IssuerKeyView)))]
pub async fn rotate_issuer_key(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<IssuerKeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.payments.rotate_issuer_key().await?),
    ))
}

#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(pass, gate_config, rotate_issuer_key))]
pub struct TransitApiDoc;
