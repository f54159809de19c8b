//! The HTTP surface of Cashless: routing, authentication, JSON in and out.
//!
//! Handlers parse the wire format into domain types at the edge (ids, currencies, amounts as
//! decimal strings), call the store, and answer with JSON. Every error has one shape,
//! `{"error": {"code", "message"}}` (see [`error::ApiError`]).

pub mod auth;
pub mod demo;
pub mod error;
pub mod json;
pub mod ledger_api;
pub mod merchant_api;
pub mod staff_api;
pub mod transit_api;
pub mod wallet_api;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use cashless_partners::SimulatedSms;
use cashless_payments::Payments;
use cashless_store::Store;
use cashless_wallet::Wallet;
use serde_json::{Value, json};

pub use auth::OperatorToken;
use error::ApiError;

/// Request bodies larger than this are refused: a full batch of 8,190 transfers is ~3 MiB.
const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub operator_token: Arc<OperatorToken>,
    pub wallet: Arc<Wallet>,
    pub payments: Arc<Payments>,
    /// The simulated SMS gateway, when its outbox may be read over the operator API (never in
    /// production mode).
    pub sms_outbox: Option<Arc<SimulatedSms>>,
    /// Demo mode (`--demo`): sign-in codes are shown in the answer, for the demo city.
    pub demo: bool,
    /// The demo city, once seeded (demo mode only).
    pub demo_city: Arc<std::sync::OnceLock<demo::DemoCity>>,
}

impl AppState {
    /// The simulated SMS outbox when this request may be shown the codes it holds: demo mode,
    /// asked from a page served by this machine (see [`web::local_host`]).
    pub(crate) fn demo_outbox(&self, headers: &axum::http::HeaderMap) -> Option<&SimulatedSms> {
        if self.demo && web::local_host(headers) {
            self.sms_outbox.as_deref()
        } else {
            None
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let operator = Router::new()
        .route("/v1/ledger/accounts", post(ledger_api::create_accounts))
        .route("/v1/ledger/accounts/{id}", get(ledger_api::get_account))
        .route(
            "/v1/ledger/accounts/{id}/transfers",
            get(ledger_api::list_account_transfers),
        )
        .route("/v1/ledger/transfers", post(ledger_api::create_transfers))
        .route("/v1/ledger/transfers/{id}", get(ledger_api::get_transfer))
        .route("/v1/operator/sms", get(wallet_api::sms_outbox))
        .route("/v1/operator/merchants", post(merchant_api::onboard))
        .route(
            "/v1/operator/merchants/{id}",
            get(merchant_api::operator_merchant),
        )
        .route(
            "/v1/operator/merchants/{id}/stores",
            post(merchant_api::add_store),
        )
        .route(
            "/v1/operator/merchants/{id}/stores/{store_id}/terminals",
            post(merchant_api::add_terminal),
        )
        .route(
            "/v1/operator/merchants/{id}/keys",
            post(merchant_api::operator_add_key),
        )
        .route(
            "/v1/operator/transit/issuer-keys",
            post(transit_api::rotate_issuer_key),
        )
        .route(
            "/v1/operator/transit/gates",
            post(transit_api::register_gate),
        )
        .route("/v1/operator/transit/flags", get(transit_api::flags))
        .route(
            "/v1/operator/merchants/{id}/keys/{key_id}",
            axum::routing::delete(merchant_api::operator_revoke_key),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(wallet_api::openapi))
        .merge(web::routes())
        .merge(consumer_routes())
        .merge(merchant_routes())
        .merge(operator)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The consumer API (see [`wallet_api`]); each handler authenticates through its extractor.
fn consumer_routes() -> Router<AppState> {
    use axum::routing::delete;
    use wallet_api as w;
    Router::new()
        .route("/v1/auth/sms-codes", post(w::send_sms_code))
        .route("/v1/auth/sign-in", post(w::sign_in))
        .route("/v1/auth/sign-out", post(w::sign_out))
        .route("/v1/auth/sign-out-everywhere", post(w::sign_out_everywhere))
        .route("/v1/me", get(w::me))
        .route("/v1/me/devices", get(w::devices))
        .route("/v1/me/devices/{id}", delete(w::remove_device))
        .route("/v1/me/pin", post(w::set_pin))
        .route(
            "/v1/me/device-pay",
            post(w::enable_device_pay).delete(w::disable_device_pay),
        )
        .route("/v1/me/pin/change", post(w::change_pin))
        .route("/v1/me/pin/reset-code", post(w::pin_reset_code))
        .route("/v1/me/identity", post(w::verify_identity))
        .route("/v1/me/cards", get(w::cards).post(w::link_card))
        .route("/v1/me/cards/{id}", delete(w::remove_card))
        .route(
            "/v1/me/payment-card",
            get(w::payment_card).put(w::set_payment_card),
        )
        .route("/v1/me/cards/bindings/{id}/confirm", post(w::confirm_card))
        .route("/v1/me/topups", post(w::top_up))
        .route("/v1/me/topups/{id}", get(w::get_top_up))
        .route("/v1/me/withdrawals", post(w::withdraw))
        .route("/v1/me/withdrawals/{id}", get(w::get_withdrawal))
        .route("/v1/me/statement", get(w::statement))
}

/// The signed merchant API and the consumer's payment routes (see [`merchant_api`]).
fn merchant_routes() -> Router<AppState> {
    use axum::routing::put;
    use merchant_api as m;
    Router::new()
        .route("/v1/platform/keys", get(m::platform_keys))
        .route("/v1/merchant/profile", get(m::profile))
        .route("/v1/merchant/keys", post(m::rotate_key))
        .route("/v1/merchant/till-keys", post(m::add_till_key))
        .route(
            "/v1/merchant/till-keys/{key_id}",
            axum::routing::delete(m::revoke_till_key),
        )
        .route("/v1/merchant/notify-url", put(m::set_notify_url))
        .route(
            "/v1/merchant/staff",
            post(staff_api::add_staff).get(staff_api::list_staff),
        )
        .route(
            "/v1/merchant/staff/{id}",
            axum::routing::delete(staff_api::remove_staff),
        )
        .route("/v1/me/transit/pass", post(transit_api::pass))
        .route("/v1/transit/gate-config", get(transit_api::gate_config))
        .route("/v1/transit/network", get(transit_api::network))
        .route("/v1/transit/taps", post(transit_api::upload_taps))
        .route("/v1/transit/scan-image", post(transit_api::scan_image))
        .route("/v1/transit/gate", get(transit_api::whoami))
        .route("/v1/me/transit/journeys", get(transit_api::journeys))
        .route("/v1/me/transit/debts/pay", post(transit_api::pay_debts))
        .route("/v1/staff/sms-codes", post(staff_api::send_code))
        .route("/v1/staff/sessions", post(staff_api::sign_in))
        .route("/v1/staff/me", get(staff_api::me))
        .route("/v1/staff/sign-out", post(staff_api::sign_out))
        .route(
            "/v1/merchant/orders",
            post(m::precreate).get(m::list_orders),
        )
        .route("/v1/merchant/takings", get(m::takings))
        .route("/v1/merchant/events/{id}/retry", post(m::retry_event))
        .route("/v1/merchant/orders/paycode", post(m::pay_by_paycode))
        .route("/v1/merchant/orders/{out_trade_no}", get(m::query_order))
        .route("/v1/merchant/orders/{out_trade_no}/qr", get(m::order_qr))
        .route("/v1/merchant/qr", get(m::static_qr))
        .route("/v1/merchant/scan-image", post(m::merchant_scan_image))
        .route(
            "/v1/merchant/orders/{out_trade_no}/close",
            post(m::close_order),
        )
        .route(
            "/v1/merchant/orders/{out_trade_no}/cancel",
            post(m::cancel_order),
        )
        .route(
            "/v1/merchant/orders/{out_trade_no}/refunds",
            post(m::refund),
        )
        .route(
            "/v1/merchant/orders/{out_trade_no}/refunds/{out_request_no}",
            get(m::refund_query),
        )
        .route("/v1/merchant/events", get(m::events))
        .route("/v1/me/scan", post(m::scan))
        .route("/v1/me/scan-image", post(m::scan_image))
        .route("/v1/me/payments", post(m::pay))
        .route("/v1/me/payments/pending", get(m::pending))
        .route("/v1/me/payments/{id}", get(m::payment))
        .route("/v1/me/payments/{id}/confirm", post(m::confirm))
        .route("/v1/me/payments/{id}/decline", post(m::decline))
        .route("/v1/me/paycode", post(m::enrol_paycode))
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Liveness: the process answers.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and the writer runs.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(
            json!({ "status": "ready", "database": state.store.backend().to_string() }),
        )),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is unavailable",
            ))
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Refuses a body whose declared length is over the limit before reading any of it. (Bodies
/// without a declared length are cut off at the limit while being read.)
async fn refuse_declared_oversize(request: Request, next: Next) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_BYTES_MAX as u64) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over {BODY_BYTES_MAX} bytes"),
        ));
    }
    Ok(next.run(request).await)
}

/// One structured log line per request: method, route (not the raw path), status, latency.
/// Headers (and so tokens) are never logged.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}
