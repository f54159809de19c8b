//! The HTTP surface of Cashless: routing, authentication, JSON in and out.
//!
//! Handlers parse the wire format into domain types at the edge (amounts into `Money`, ids
//! into typed ids), call the services, and answer with JSON. Every error has one shape,
//! `{"error": {"code", "message"}}` (see [`error::ApiError`]).

pub mod access_log;
pub mod auth;
pub mod demo;
pub mod error;
pub mod extract;
pub mod json;
pub mod ledger_api;
pub mod listen;
pub mod merchant_api;
pub mod openapi;
pub mod pay_api;
pub mod pictures;
pub mod staff_api;
pub mod transit_api;
pub mod wallet_api;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cashless_partners::SimulatedSms;
use cashless_payments::Payments;
use cashless_store::Store;
use cashless_wallet::Wallet;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::OperatorToken;
use error::{ApiError, ErrorBody};

/// Request bodies larger than this are refused: a full batch of 8,190 transfers is ~3 MiB.
pub(crate) const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub operator_token: Arc<OperatorToken>,
    pub wallet: Arc<Wallet>,
    pub payments: Arc<Payments>,
    pub rides: Arc<cashless_rides::Rides>,
    /// The simulated SMS gateway, when its outbox may be read over the operator API (never in
    /// production mode).
    pub sms_outbox: Option<Arc<SimulatedSms>>,
    /// Demo mode (`--demo`): sign-in codes are shown in the answer, for the demo city.
    pub demo: bool,
    /// Production mode (`--production`): answers carry HSTS (the platform is behind TLS).
    pub production: bool,
    /// Which requests get an access-log line (`--access-log`).
    pub access_log: access_log::AccessLog,
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
    let (api, document) = api_routes().split_for_parts();
    let document = openapi::finish(document);
    // Served as it was made: the document is built once, at start-up.
    let document = Arc::new(serde_json::to_vec(&document).unwrap_or_default());
    Router::new()
        .merge(api)
        .route(
            "/openapi.json",
            get(move || {
                let document = Arc::clone(&document);
                async move { ([(CONTENT_TYPE, "application/json")], Vec::clone(&document)) }
            }),
        )
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.production,
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.access_log,
            access_log::log_request,
        ))
        .with_state(state)
}

/// The OpenAPI 3.1 document of every API route: made from the same registrations as the
/// router (a route cannot be served without being described).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(api_routes().split_for_parts().1)
}

/// Every API route with its description. Each handler says who may call it through its
/// extractors: `Operator`, `Consumer`, `Signed`/`SignedWrite` (a merchant key or a staff
/// session), `StaffSession`, a gate's signature; a handler with none of them is public.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(web::demo_merchants))
        .merge(ledger_routes())
        .merge(consumer_routes())
        .merge(merchant_routes())
        .merge(operator_routes())
        .merge(transit_routes())
}

/// The ledger (operator).
fn ledger_routes() -> OpenApiRouter<AppState> {
    use ledger_api as l;
    OpenApiRouter::new()
        .routes(routes!(l::create_accounts))
        .routes(routes!(l::get_account))
        .routes(routes!(l::list_account_transfers))
        .routes(routes!(l::create_transfers))
        .routes(routes!(l::get_transfer))
        .routes(routes!(l::audit))
}

/// The operator's onboarding and transit administration, and the simulated SMS outbox.
fn operator_routes() -> OpenApiRouter<AppState> {
    use merchant_api as m;
    use transit_api as t;
    OpenApiRouter::new()
        .routes(routes!(wallet_api::sms_outbox))
        .routes(routes!(m::onboard))
        .routes(routes!(m::operator_merchant))
        .routes(routes!(m::set_order_amount_max))
        .routes(routes!(m::add_store))
        .routes(routes!(m::add_terminal))
        .routes(routes!(m::operator_add_key))
        .routes(routes!(m::operator_revoke_key))
        .routes(routes!(t::rotate_issuer_key))
        .routes(routes!(t::register_gate))
        .routes(routes!(t::flags))
}

/// The consumer API (see [`wallet_api`]); each handler authenticates through its extractor.
fn consumer_routes() -> OpenApiRouter<AppState> {
    use wallet_api as w;
    OpenApiRouter::new()
        .routes(routes!(w::send_sms_code))
        .routes(routes!(w::sign_in))
        .routes(routes!(w::sign_out))
        .routes(routes!(w::sign_out_everywhere))
        .routes(routes!(w::me))
        .routes(routes!(w::devices))
        .routes(routes!(w::remove_device))
        .routes(routes!(w::set_pin))
        .routes(routes!(w::enable_device_pay, w::disable_device_pay))
        .routes(routes!(w::change_pin))
        .routes(routes!(w::pin_reset_code))
        .routes(routes!(w::verify_identity))
        .routes(routes!(w::cards, w::link_card))
        .routes(routes!(w::remove_card))
        .routes(routes!(w::payment_card, w::set_payment_card))
        .routes(routes!(w::confirm_card))
        .routes(routes!(w::top_up))
        .routes(routes!(w::quote_top_up))
        .routes(routes!(w::get_top_up))
        .routes(routes!(w::withdraw))
        .routes(routes!(w::get_withdrawal))
        .routes(routes!(w::statement))
        .routes(routes!(pay_api::scan))
        .routes(routes!(pay_api::scan_image))
        .routes(routes!(pay_api::pay))
        .routes(routes!(pay_api::pending))
        .routes(routes!(pay_api::payment))
        .routes(routes!(pay_api::confirm))
        .routes(routes!(pay_api::decline))
        .routes(routes!(pay_api::enrol_paycode))
}

/// The signed merchant API, the till's staff sessions and the platform's public key (see
/// [`merchant_api`], [`staff_api`]).
fn merchant_routes() -> OpenApiRouter<AppState> {
    use merchant_api as m;
    use staff_api as s;
    OpenApiRouter::new()
        .routes(routes!(m::platform_keys))
        .routes(routes!(m::profile))
        .routes(routes!(m::rotate_key))
        .routes(routes!(m::add_till_key))
        .routes(routes!(m::revoke_till_key))
        .routes(routes!(m::confirm_till_key))
        .routes(routes!(m::set_notify_url))
        .routes(routes!(s::add_staff, s::list_staff))
        .routes(routes!(s::remove_staff))
        .routes(routes!(s::confirm_staff))
        .routes(routes!(s::send_code))
        .routes(routes!(s::sign_in))
        .routes(routes!(s::me))
        .routes(routes!(s::sign_out))
        .routes(routes!(m::precreate, m::list_orders))
        .routes(routes!(m::takings))
        .routes(routes!(m::retry_event))
        .routes(routes!(m::pay_by_paycode))
        .routes(routes!(m::query_order))
        .routes(routes!(m::order_qr))
        .routes(routes!(m::static_qr))
        .routes(routes!(m::merchant_scan_image))
        .routes(routes!(m::close_order))
        .routes(routes!(m::cancel_order))
        .routes(routes!(m::refund))
        .routes(routes!(m::refund_query))
        .routes(routes!(m::events))
}

/// Transit: the rider's pass and journeys, the gates' configuration and uploads.
fn transit_routes() -> OpenApiRouter<AppState> {
    use transit_api as t;
    OpenApiRouter::new()
        .routes(routes!(t::pass))
        .routes(routes!(t::gate_config))
        .routes(routes!(t::network))
        .routes(routes!(t::upload_taps))
        .routes(routes!(t::scan_image))
        .routes(routes!(t::whoami))
        .routes(routes!(t::journeys))
        .routes(routes!(t::pay_debts))
}

/// Serves until `shutdown` completes, then finishes in-flight requests. Slow and greedy
/// clients are bounded by `limits` (see [`listen`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: listen::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(listener, router(state), limits, shutdown).await
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        database: None,
    })
}

/// What `/healthz` and `/readyz` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok` (alive) or `ready`.
    status: String,
    /// `sqlite` or `postgresql` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
}

/// Readiness: the database answers and the writer runs.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health),
              (status = 503, body = ErrorBody, description = "not_ready: the database is unavailable")))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Health {
            status: "ready".to_owned(),
            database: Some(state.store.backend().to_string()),
        })),
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
        return Err(extract::body_too_large());
    }
    Ok(next.run(request).await)
}

/// Headers every answer carries: no caching of answers that hold tokens or personal data
/// (unless a route chose its own policy, as the pages do), no content sniffing, and in
/// production HSTS.
async fn security_headers(
    State(production): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    use axum::http::HeaderValue;
    use axum::http::header::{CACHE_CONTROL, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if production {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// The safety net of the error contract: an error answer that is not JSON (from an extractor
/// or layer that bypassed [`extract`], say) is replaced by the API's error shape, and logged,
/// because it means a handler needs fixing.
async fn json_errors(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    tracing::warn!(
        route,
        status = status.as_u16(),
        "an error answer was not JSON; replaced"
    );
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return extract::body_too_large().into_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "this endpoint does not take a body of that type",
        ),
        status if status.is_client_error() => ("invalid_request", "the request is not valid"),
        _ => ("internal", "internal error"),
    };
    ApiError::new(status, code, message).into_response()
}
