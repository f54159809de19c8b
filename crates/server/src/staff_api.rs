//! A merchant's staff over HTTP: the merchant manages its cashiers and managers (signed with
//! its full key), and staff sign in to the till with their phone and an SMS code. A staff
//! session's token then stands in for a signature on the merchant API
//! (`Authorization: Bearer clst_…`), limited to what the role may do.

use axum::Json;
use axum::extract::State;

use crate::extract::Path;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use cashless_payments::staff::{StaffInput, StaffMe, StaffSignedIn, StaffView};
use cashless_wallet::CodeSent;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::json::ApiJson;
use crate::merchant_api::{Body, Signed, SignedWrite};
use crate::wallet_api::SmsCodeRequest;
use cashless_payments::ids::StaffId;

/// Adds a cashier or manager (the merchant's full key). They sign in to the till with a code
/// texted to their phone.
#[utoipa::path(post, path = "/v1/merchant/staff", tag = "staff", request_body = StaffInput,
    responses((status = 201, body = StaffView),
              (status = 409, body = ErrorBody, description = "staff_exists, staff_phone_taken"),
              (status = 403, body = ErrorBody, description = "key_scope")))]
pub async fn add_staff(
    State(state): State<AppState>,
    Signed(caller, Body(input)): Signed<Body<StaffInput>>,
) -> Result<(StatusCode, Json<StaffView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.payments.add_staff(caller, input).await?),
    ))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct StaffList {
    pub staff: Vec<StaffView>,
}

/// The merchant's staff (the full key or a manager).
#[utoipa::path(get, path = "/v1/merchant/staff", tag = "staff",
    responses((status = 200, body = StaffList)))]
pub async fn list_staff(
    State(state): State<AppState>,
    Signed(caller, ()): Signed<()>,
) -> Result<Json<StaffList>, ApiError> {
    Ok(Json(StaffList {
        staff: state.payments.staff(caller).await?,
    }))
}

/// Re-confirms a staff member with the merchant's current key: revoking the key that added
/// them no longer removes them.
#[utoipa::path(post, path = "/v1/merchant/staff/{id}/confirm", tag = "staff",
    responses((status = 204), (status = 403, body = ErrorBody, description = "key_scope, key_rotated_out: only the current full key confirms"),
              (status = 404, body = ErrorBody, description = "staff_not_found"),
              (status = 409, body = ErrorBody, description = "staff_granted_by_operator")))]
pub async fn confirm_staff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<StatusCode, ApiError> {
    state
        .payments
        .confirm_staff(caller, &StaffId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a staff member (the merchant's full key); their sessions end at once.
#[utoipa::path(delete, path = "/v1/merchant/staff/{id}", tag = "staff",
    responses((status = 204), (status = 404, body = ErrorBody, description = "staff_not_found")))]
pub async fn remove_staff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Signed(caller, ()): Signed<()>,
) -> Result<StatusCode, ApiError> {
    state
        .payments
        .remove_staff(caller, &StaffId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Texts a till sign-in code to a staff member's phone. Answers the same whether or not the
/// number is on a merchant's staff (a code goes out only if it is).
#[utoipa::path(post, path = "/v1/staff/sms-codes", tag = "staff", request_body = SmsCodeRequest,
    responses((status = 200, body = CodeSent), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "sms_too_soon, sms_daily_limit")))]
pub async fn send_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SmsCodeRequest>,
) -> Result<Json<CodeSent>, ApiError> {
    // Demo mode shows the code on the page: it must have gone out before the answer.
    let outbox = state.demo_outbox(&headers);
    let (mut sent, went_out) = state
        .payments
        .send_staff_code(&request.phone, outbox.is_some())
        .await?;
    if went_out
        && let Some(outbox) = outbox
        && let Ok(phone) = cashless_consumer::Phone::parse(&request.phone)
    {
        sent.demo_code = outbox.newest_code_to(phone.as_str());
    }
    Ok(Json(sent))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffSignInRequest {
    pub phone: String,
    #[schema(example = "123456")]
    pub code: String,
}

impl std::fmt::Debug for StaffSignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSignInRequest")
            .field("code", &"***")
            .finish_non_exhaustive()
    }
}

/// Signs a staff member in to the till: a session for one shift (12 hours).
#[utoipa::path(post, path = "/v1/staff/sessions", tag = "staff", request_body = StaffSignInRequest,
    responses((status = 201, body = StaffSignedIn),
              (status = 422, body = ErrorBody, description = "sms_code_invalid, sms_code_expired, sms_code_used"),
              (status = 429, body = ErrorBody, description = "sms_code_attempts_exceeded")))]
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<StaffSignInRequest>,
) -> Result<(StatusCode, Json<StaffSignedIn>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .payments
                .staff_sign_in(&request.phone, &request.code)
                .await?,
        ),
    ))
}

/// Who this staff session is: name, role, merchant.
#[utoipa::path(get, path = "/v1/staff/me", tag = "staff", security(("staff" = [])),
    responses((status = 200, body = StaffMe), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    SignedWrite(caller, ()): SignedWrite<()>,
) -> Result<Json<StaffMe>, ApiError> {
    Ok(Json(state.payments.staff_me(caller).await?))
}

/// Signs out of the till: the session's token stops working.
#[utoipa::path(post, path = "/v1/staff/sign-out", tag = "staff", security(("staff" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    SignedWrite(caller, ()): SignedWrite<()>,
) -> Result<StatusCode, ApiError> {
    caller.staff_id.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "not_staff",
            "this is a staff session endpoint",
        )
    })?;
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    state.payments.staff_sign_out(token.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}
