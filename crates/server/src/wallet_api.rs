//! The consumer API under `/v1/`: sign-in, the profile, PIN, real name, cards, top-ups,
//! withdrawals and the statement. Handlers only translate between HTTP and the wallet
//! (`cashless_wallet`), where the rules live.
//!
//! Every route but sign-in takes the session token as `Authorization: Bearer cls_…`; every
//! POST that moves money takes an `Idempotency-Key` header.

use axum::Json;
use axum::extract::{FromRequestParts, State};

use crate::extract::{Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use cashless_wallet::cards::{CardBinding, CardView};
use cashless_wallet::funding::{FundingView, TopUpQuote, TopUpRequest, WithdrawalRequest};
use cashless_wallet::identity::IdentityInput;
use cashless_wallet::pin::PinProof;
use cashless_wallet::statement::{Profile, Statement};
use cashless_wallet::{CodeSent, DeviceInput, DeviceView, Session, SignedIn};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Operator;
use crate::auth::bearer;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiJson;
use cashless_kernel::wire;
use cashless_ledger::Currency;
use cashless_wallet::ids::{BindingId, CardId, DeviceId, FundingId};

/// A signed-in consumer. Extracting it authenticates the request.
#[derive(Debug)]
pub struct Consumer(pub Session);

impl FromRequestParts<AppState> for Consumer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Consumer, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::from(cashless_kernel::ServiceError::unauthorized()))?;
        state
            .wallet
            .authenticate(token)
            .await
            .map(Consumer)
            .map_err(ApiError::from)
    }
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
}

// ---- sign-in ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsCodeRequest {
    /// Mainland mobile (`13812345678` or `+8613812345678`) or any E.164 number.
    #[schema(example = "+8613812345678")]
    pub phone: String,
}

/// Texts a 6-digit sign-in code (valid 5 minutes; one per 60 s, 10 per day per number).
#[utoipa::path(post, path = "/v1/auth/sms-codes", tag = "auth", request_body = SmsCodeRequest,
    responses((status = 200, body = CodeSent), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "sms_too_soon, sms_daily_limit")))]
pub async fn send_sms_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SmsCodeRequest>,
) -> Result<Json<CodeSent>, ApiError> {
    let mut sent = state.wallet.send_sign_in_code(&request.phone).await?;
    if let Some(outbox) = state.demo_outbox(&headers)
        && let Ok(phone) = cashless_consumer::Phone::parse(&request.phone)
    {
        sent.demo_code = outbox.newest_code_to(phone.as_str());
    }
    Ok(Json(sent))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// The id from an earlier sign-in on this device; omit on a new device.
    pub id: Option<String>,
    #[schema(example = "Li Na's iPhone")]
    pub name: Option<String>,
    /// Raw Ed25519 public key, 64 hex digits.
    pub public_key: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub phone: String,
    #[schema(example = "123456")]
    pub code: String,
    pub device: Option<DeviceRequest>,
}

/// Signs in with the SMS code, creating the account on first use, and opens a session.
#[utoipa::path(post, path = "/v1/auth/sign-in", tag = "auth", request_body = SignInRequest,
    responses((status = 200, body = SignedIn),
              (status = 422, body = ErrorBody, description = "sms_code_invalid, sms_code_expired, sms_code_used"),
              (status = 429, body = ErrorBody, description = "sms_code_attempts_exceeded")))]
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Json<SignedIn>, ApiError> {
    let device = request
        .device
        .map_or_else(DeviceInput::default, |device| DeviceInput {
            device_id: device.id,
            name: device.name,
            public_key: device.public_key,
        });
    Ok(Json(
        state
            .wallet
            .sign_in(&request.phone, &request.code, device)
            .await?,
    ))
}

/// Ends this session.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "auth", security(("consumer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<StatusCode, ApiError> {
    state.wallet.sign_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of this account on every device.
#[utoipa::path(post, path = "/v1/auth/sign-out-everywhere", tag = "auth", security(("consumer" = [])),
    responses((status = 200, body = SessionsEnded), (status = 401, body = ErrorBody)))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<SessionsEnded>, ApiError> {
    let sessions_ended = state.wallet.sign_out_everywhere(&session).await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SessionsEnded {
    pub sessions_ended: u64,
}

// ---- profile and devices -------------------------------------------------------------------

/// The profile: KYC level, balance, limits, PIN state.
#[utoipa::path(get, path = "/v1/me", tag = "profile", security(("consumer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(state.wallet.profile(&session).await?))
}

/// Devices signed in to this account.
#[utoipa::path(get, path = "/v1/me/devices", tag = "profile", security(("consumer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody)))]
pub async fn devices(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<DeviceList>, ApiError> {
    let devices = state.wallet.devices(&session).await?;
    Ok(Json(DeviceList { devices }))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
}

/// Removes a device and ends its sessions.
#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "profile", security(("consumer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_device(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .wallet
        .remove_device(&session, &DeviceId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- PIN -------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPinRequest {
    /// Six digits, not a trivial sequence (123456, 111111 …).
    pub pin: String,
}

/// Sets the payment PIN (once; afterwards change it).
#[utoipa::path(post, path = "/v1/me/pin", tag = "pin", security(("consumer" = [])),
    request_body = SetPinRequest,
    responses((status = 204), (status = 409, body = ErrorBody, description = "pin_already_set"),
              (status = 422, body = ErrorBody, description = "pin_syntax, pin_too_simple")))]
pub async fn set_pin(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<SetPinRequest>,
) -> Result<StatusCode, ApiError> {
    state.wallet.set_pin(&session, &request.pin).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePayRequest {
    /// The payment PIN: only its owner may let a phone pay in its place.
    pub pin: String,
}

/// Turns on paying with this device ("fingerprint or face"): afterwards the device key
/// registered at sign-in may confirm payments in place of the PIN.
#[utoipa::path(post, path = "/v1/me/device-pay", tag = "pin", security(("consumer" = [])),
    request_body = DevicePayRequest,
    responses((status = 204), (status = 403, body = ErrorBody, description = "pin_incorrect"),
              (status = 409, body = ErrorBody, description = "device_key_missing, pin_not_set"),
              (status = 423, body = ErrorBody, description = "pin_locked")))]
pub async fn enable_device_pay(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<DevicePayRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .wallet
        .enable_device_pay(&session, &request.pin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentCardRequest {
    /// A linked card's id, or null for none.
    pub card_id: Option<String>,
    /// The payment PIN, needed to choose a card (not to clear it).
    pub pin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCardView {
    /// The linked card a payment draws the shortfall from when the balance is short; null:
    /// such payments are refused with `insufficient_balance`.
    pub card_id: Option<String>,
}

/// The card payments fall back to when the balance is short.
#[utoipa::path(get, path = "/v1/me/payment-card", tag = "cards", security(("consumer" = [])),
    responses((status = 200, body = PaymentCardView)))]
pub async fn payment_card(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<PaymentCardView>, ApiError> {
    Ok(Json(PaymentCardView {
        card_id: state.wallet.payment_card(&session.user_id).await?,
    }))
}

/// Chooses (or clears) the card payments fall back to when the balance is short: the
/// shortfall is debited from it as a top-up for that payment, then the payment goes through.
#[utoipa::path(put, path = "/v1/me/payment-card", tag = "cards", security(("consumer" = [])),
    request_body = PaymentCardRequest,
    responses((status = 200, body = PaymentCardView),
              (status = 403, body = ErrorBody, description = "pin_incorrect"),
              (status = 404, body = ErrorBody, description = "card_not_found"),
              (status = 423, body = ErrorBody, description = "pin_locked")))]
pub async fn set_payment_card(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<PaymentCardRequest>,
) -> Result<Json<PaymentCardView>, ApiError> {
    Ok(Json(PaymentCardView {
        card_id: state
            .wallet
            .set_payment_card(
                &session,
                CardId::parse_opt(request.card_id.as_deref())?.as_ref(),
                request.pin.as_deref(),
            )
            .await?,
    }))
}

/// Turns off paying with this device.
#[utoipa::path(delete, path = "/v1/me/device-pay", tag = "pin", security(("consumer" = [])),
    responses((status = 204)))]
pub async fn disable_device_pay(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<StatusCode, ApiError> {
    state.wallet.disable_device_pay(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePinRequest {
    /// The current PIN; or else `sms_code`.
    pub old_pin: Option<String>,
    /// A code from `POST /v1/me/pin/reset-code`; also lifts a lock-out.
    pub sms_code: Option<String>,
    pub new_pin: String,
}

/// Changes the PIN, proven by the old PIN or an SMS code.
#[utoipa::path(post, path = "/v1/me/pin/change", tag = "pin", security(("consumer" = [])),
    request_body = ChangePinRequest,
    responses((status = 204), (status = 403, body = ErrorBody, description = "pin_incorrect"),
              (status = 422, body = ErrorBody, description = "pin_syntax, pin_too_simple, pin_unchanged"),
              (status = 423, body = ErrorBody, description = "pin_locked")))]
pub async fn change_pin(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<ChangePinRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = match (request.old_pin, request.sms_code) {
        (Some(old), None) => PinProof::OldPin(old),
        (None, Some(code)) => PinProof::SmsCode(code),
        _ => {
            return Err(ApiError::invalid(
                "pin_proof_required",
                "send exactly one of old_pin and sms_code",
            ));
        }
    };
    state
        .wallet
        .change_pin(&session, proof, &request.new_pin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Texts a code to the account's phone for changing the PIN without the old one.
#[utoipa::path(post, path = "/v1/me/pin/reset-code", tag = "pin", security(("consumer" = [])),
    responses((status = 200, body = CodeSent), (status = 429, body = ErrorBody)))]
pub async fn pin_reset_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Consumer(session): Consumer,
) -> Result<Json<CodeSent>, ApiError> {
    let (mut sent, phone) = state.wallet.send_pin_reset_code(&session).await?;
    if let Some(outbox) = state.demo_outbox(&headers) {
        sent.demo_code = outbox.newest_code_to(phone.as_str());
    }
    Ok(Json(sent))
}

// ---- real name -------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentityRequest {
    /// A mainland resident identity card (GB 11643).
    ResidentId {
        #[schema(example = "张三")]
        name: String,
        #[schema(example = "11010519491231002X")]
        number: String,
    },
    /// A foreign visitor's passport.
    Passport {
        name: String,
        /// ISO 3166-1 alpha-3 issuing country.
        #[schema(example = "GBR")]
        country: String,
        number: String,
        #[schema(example = "GBR")]
        nationality: String,
        #[schema(example = "1990-03-07")]
        date_of_birth: String,
    },
}

/// Verifies the real name (L0 → L1). One identity verifies at most one account.
#[utoipa::path(post, path = "/v1/me/identity", tag = "real name", security(("consumer" = [])),
    request_body = IdentityRequest,
    responses((status = 200, body = Profile),
              (status = 409, body = ErrorBody, description = "identity_already_used, already_verified"),
              (status = 422, body = ErrorBody, description = "id_number_check_character, id_number_birth_date, id_number_area_code, name_invalid, passport_…")))]
pub async fn verify_identity(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(request): ApiJson<IdentityRequest>,
) -> Result<Json<Profile>, ApiError> {
    let input = match request {
        IdentityRequest::ResidentId { name, number } => IdentityInput::ResidentId { name, number },
        IdentityRequest::Passport {
            name,
            country,
            number,
            nationality,
            date_of_birth,
        } => IdentityInput::Passport {
            name,
            country,
            number,
            nationality,
            date_of_birth,
        },
    };
    state.wallet.verify_identity(&session, input).await?;
    Ok(Json(state.wallet.profile(&session).await?))
}

// ---- cards -----------------------------------------------------------------------------------

/// Linked cards.
#[utoipa::path(get, path = "/v1/me/cards", tag = "cards", security(("consumer" = [])),
    responses((status = 200, body = CardList)))]
pub async fn cards(
    State(state): State<AppState>,
    Consumer(session): Consumer,
) -> Result<Json<CardList>, ApiError> {
    let cards = state.wallet.cards(&session).await?;
    Ok(Json(CardList { cards }))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CardList {
    pub cards: Vec<CardView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCardRequest {
    #[schema(example = "6222 0212 3456 7890 128")]
    pub number: String,
    /// Must be the account's verified real name.
    pub holder_name: String,
}

/// Starts linking a card; the bank texts a code to the holder.
#[utoipa::path(post, path = "/v1/me/cards", tag = "cards", security(("consumer" = [])),
    request_body = LinkCardRequest,
    responses((status = 200, body = CardBinding),
              (status = 403, body = ErrorBody, description = "real_name_required"),
              (status = 422, body = ErrorBody, description = "card_holder_mismatch, card_number_luhn, card_number_syntax")))]
pub async fn link_card(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LinkCardRequest>,
) -> Result<Json<CardBinding>, ApiError> {
    let mut binding = state
        .wallet
        .start_card_binding(&session, &request.number, &request.holder_name)
        .await?;
    if let Some(outbox) = state.demo_outbox(&headers) {
        let phone = state.wallet.phone_number(&session).await?;
        binding.demo_code = outbox.newest_code_to(&phone);
    }
    Ok(Json(binding))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmCardRequest {
    /// The code the bank texted.
    pub otp: String,
}

/// Confirms a card with the bank's code; the first card raises the account to L2.
#[utoipa::path(post, path = "/v1/me/cards/bindings/{id}/confirm", tag = "cards",
    security(("consumer" = [])), params(("id" = String, Path)), request_body = ConfirmCardRequest,
    responses((status = 200, body = CardView), (status = 422, body = ErrorBody, description = "otp_invalid, otp_expired")))]
pub async fn confirm_card(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConfirmCardRequest>,
) -> Result<Json<CardView>, ApiError> {
    Ok(Json(
        state
            .wallet
            .confirm_card_binding(&session, &BindingId::parse(&id)?, &request.otp)
            .await?,
    ))
}

/// Unlinks a card; removing the last one returns the account to L1.
#[utoipa::path(delete, path = "/v1/me/cards/{id}", tag = "cards", security(("consumer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "card_in_use")))]
pub async fn remove_card(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .wallet
        .remove_card(&session, &CardId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- money in and out ------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    pub card_id: String,
    #[schema(example = "100.00")]
    pub amount: String,
    /// CNY, or the card's own currency for international cards (converted to CNY).
    #[schema(example = "CNY")]
    pub currency: Option<String>,
}

/// Tops up from a linked card. Answers `processing`; poll `GET /v1/me/topups/{id}`.
#[utoipa::path(post, path = "/v1/me/topups", tag = "money", security(("consumer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per top-up; a retry with the same key answers the same top-up")),
    request_body = TopUpBody,
    responses((status = 200, body = FundingView),
              (status = 404, body = ErrorBody, description = "card_not_found"),
              (status = 422, body = ErrorBody, description = "idempotency_key_reused, currency_not_supported_by_card, idempotency_key_required, amount_invalid")))]
pub async fn top_up(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<Json<FundingView>, ApiError> {
    // A missing key is said first, as for any request that moves money.
    cashless_kernel::idempotency::idempotency_key(idempotency_key(&headers))?;
    let request = TopUpRequest {
        card_id: CardId::parse(&body.card_id)?,
        amount: wire::money_in(&body.amount, body.currency.as_deref())?,
    };
    Ok(Json(
        state
            .wallet
            .top_up(&session, idempotency_key(&headers), request)
            .await?,
    ))
}

/// What a top-up would charge the card and credit the wallet (at today's rate for a
/// foreign card), before it is made. Nothing moves.
#[utoipa::path(post, path = "/v1/me/topups/quote", tag = "money", security(("consumer" = [])),
    request_body = TopUpBody,
    responses((status = 200, body = TopUpQuote),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "card_not_found"),
              (status = 422, body = ErrorBody, description = "currency_not_supported_by_card, amount_too_small, top_up_limit_exceeded, amount_invalid, currency_invalid")))]
pub async fn quote_top_up(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<Json<TopUpQuote>, ApiError> {
    let card_id = CardId::parse(&body.card_id)?;
    let amount = wire::money_in(&body.amount, body.currency.as_deref())?;
    Ok(Json(
        state
            .wallet
            .quote_top_up(&session, &card_id, amount)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    pub card_id: String,
    /// CNY.
    #[schema(example = "50.00")]
    pub amount: String,
    pub pin: String,
}

/// Withdraws to a linked card (CNY), confirmed with the PIN; counts against the daily limit.
#[utoipa::path(post, path = "/v1/me/withdrawals", tag = "money", security(("consumer" = [])),
    params(("Idempotency-Key" = String, Header)), request_body = WithdrawalBody,
    responses((status = 200, body = FundingView),
              (status = 403, body = ErrorBody, description = "pin_incorrect, real_name_required"),
              (status = 404, body = ErrorBody, description = "card_not_found"),
              (status = 422, body = ErrorBody, description = "insufficient_balance, daily_limit_exceeded, single_limit_exceeded"),
              (status = 423, body = ErrorBody, description = "pin_locked")))]
pub async fn withdraw(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WithdrawalBody>,
) -> Result<Json<FundingView>, ApiError> {
    // A missing key is said first, as for any request that moves money.
    cashless_kernel::idempotency::idempotency_key(idempotency_key(&headers))?;
    let request = WithdrawalRequest {
        card_id: CardId::parse(&body.card_id)?,
        amount: wire::money(&body.amount, Currency::CNY)?,
        pin: body.pin,
    };
    Ok(Json(
        state
            .wallet
            .withdraw(&session, idempotency_key(&headers), request)
            .await?,
    ))
}

/// A top-up of the caller.
#[utoipa::path(get, path = "/v1/me/topups/{id}", tag = "money", security(("consumer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = FundingView), (status = 404, body = ErrorBody)))]
pub async fn get_top_up(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<Json<FundingView>, ApiError> {
    funding_of_kind(&state, &session, &id, "top_up").await
}

/// A withdrawal of the caller.
#[utoipa::path(get, path = "/v1/me/withdrawals/{id}", tag = "money", security(("consumer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = FundingView), (status = 404, body = ErrorBody)))]
pub async fn get_withdrawal(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Path(id): Path<String>,
) -> Result<Json<FundingView>, ApiError> {
    funding_of_kind(&state, &session, &id, "withdrawal").await
}

async fn funding_of_kind(
    state: &AppState,
    session: &Session,
    id: &str,
    kind: &str,
) -> Result<Json<FundingView>, ApiError> {
    let funding = state
        .wallet
        .funding(session, &FundingId::parse(id)?)
        .await?;
    if funding.kind != kind {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "funding_not_found",
            "no such top-up or withdrawal",
        ));
    }
    Ok(Json(funding))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    /// Only `payment`, `refund`, `top_up` or `withdrawal` lines.
    pub kind: Option<String>,
}

/// The statement: balance, today's remaining limit, transactions newest first.
#[utoipa::path(get, path = "/v1/me/statement", tag = "money", security(("consumer" = [])),
    params(StatementQuery), responses((status = 200, body = Statement), (status = 422, body = ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    Consumer(session): Consumer,
    Query(query): Query<StatementQuery>,
) -> Result<Json<Statement>, ApiError> {
    Ok(Json(
        state
            .wallet
            .statement(
                &session,
                query.cursor.as_deref(),
                query.limit,
                query.kind.as_deref(),
            )
            .await?,
    ))
}

// ---- operator: the SMS simulator's outbox ------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only the messages to this number.
    pub phone: Option<String>,
}

/// A text the simulated SMS gateway "sent".
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct OutboxMessage {
    /// E.164.
    pub phone: String,
    pub text: String,
    pub sent_at_ms: u64,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Outbox {
    pub messages: Vec<OutboxMessage>,
}

/// The simulated SMS gateway's recent messages, to read sign-in codes while trying the
/// platform (operator token; `404` in production mode, where texts are real).
#[utoipa::path(get, path = "/v1/operator/sms", tag = "operator", security(("operator" = [])),
    params(OutboxQuery),
    responses((status = 200, body = Outbox),
              (status = 422, body = ErrorBody, description = "phone_invalid"),
              (status = 404, body = ErrorBody, description = "production mode: no simulated outbox")))]
pub async fn sms_outbox(
    State(state): State<AppState>,
    _operator: Operator,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Outbox>, ApiError> {
    let Some(outbox) = &state.sms_outbox else {
        return Err(ApiError::not_found("no such endpoint"));
    };
    let messages = match query.phone.as_deref() {
        Some(phone) => {
            let phone = cashless_consumer::Phone::parse(phone)
                .map_err(|error| ApiError::invalid(error.code(), error.to_string()))?;
            outbox.messages_to(phone.as_str())
        }
        None => outbox.recent(100),
    };
    let messages = messages
        .into_iter()
        .map(|message| OutboxMessage {
            phone: message.phone,
            text: message.text,
            sent_at_ms: message.sent_at_ms,
        })
        .collect();
    Ok(Json(Outbox { messages }))
}

/// `Debug` for request bodies that carry secrets (codes, PINs, card and ID numbers): the
/// type name only, so a stray `{:?}` in a log line can never leak one.
macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    )*};
}

redacted_debug!(
    SignInRequest,
    SetPinRequest,
    DevicePayRequest,
    PaymentCardRequest,
    ChangePinRequest,
    IdentityRequest,
    LinkCardRequest,
    ConfirmCardRequest,
    WithdrawalBody
);
