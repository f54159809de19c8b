//! The wallet web app: a few static files embedded in the binary and served as they are (no
//! front-end build step). The app talks to the same JSON API as any client.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const INDEX: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/app.js");
const QR_SCRIPT: &str = include_str!("../web/qr.js");
const UI_SCRIPT: &str = include_str!("../web/ui.js");
const POS_PAGE: &str = include_str!("../web/pos.html");
const POS_SCRIPT: &str = include_str!("../web/pos.js");
const GATE_PAGE: &str = include_str!("../web/gate.html");
const GATE_SCRIPT: &str = include_str!("../web/gate.js");
const STYLE: &str = include_str!("../web/app.css");
const ICON: &str = include_str!("../web/icon.svg");

/// Only our own files, no framing, no inline code: the app builds its DOM with textContent,
/// so Trusted Types can forbid every HTML and script sink outright (no policy is allowed).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'none'; form-action 'self'; \
                   require-trusted-types-for 'script'; trusted-types 'none'";

/// The camera for scanning codes, from our own pages only; nothing else.
const PERMISSIONS: &str = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/pos",
            get(|| async { asset("text/html; charset=utf-8", POS_PAGE) }),
        )
        .route(
            "/pos.js",
            get(|| async { asset("text/javascript; charset=utf-8", POS_SCRIPT) }),
        )
        .route(
            "/gate",
            get(|| async { asset("text/html; charset=utf-8", GATE_PAGE) }),
        )
        .route(
            "/gate.js",
            get(|| async { asset("text/javascript; charset=utf-8", GATE_SCRIPT) }),
        )
        .route("/v1/demo/merchants", get(demo_merchants))
        .route(
            "/ui.js",
            get(|| async { asset("text/javascript; charset=utf-8", UI_SCRIPT) }),
        )
        .route(
            "/qr.js",
            get(|| async { asset("text/javascript; charset=utf-8", QR_SCRIPT) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/icon.svg", get(|| async { asset("image/svg+xml", ICON) }))
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
}

/// Demo mode only: the demo city's tills (merchant ids and signing keys), for the POS page's
/// picker. Not found otherwise: real keys are never served.
async fn demo_merchants(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, crate::error::ApiError> {
    match state.demo_city.get() {
        Some(city) if state.demo && local_host(&headers) => Ok((
            [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(serde_json::json!({ "merchants": city.merchants, "staff": city.staff })),
        )
            .into_response()),
        _ => Err(crate::error::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "there is no demo city on this server",
        )),
    }
}

/// Whether the request names this machine (`localhost`, `127.0.0.1`, `[::1]`): demo secrets
/// are only for pages served from here, not for a page on another site whose name was made to
/// point at us (DNS rebinding).
pub fn local_host(headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Revalidate every time: a new binary serves new files at once.
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("content-security-policy"),
                HeaderValue::from_static(CSP),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(PERMISSIONS),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}
