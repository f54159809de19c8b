//! The HTTP surface of Cashless: routing, authentication, JSON in and out.
//!
//! Handlers parse the wire format into domain types at the edge (ids, currencies, amounts as
//! decimal strings), call the store, and answer with JSON. Every error has one shape,
//! `{"error": {"code", "message"}}` (see [`error::ApiError`]).

pub mod auth;
pub mod error;
pub mod json;
pub mod ledger_api;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use cashless_store::Store;
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
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(operator)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
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
