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
const I18N_SCRIPT: &str = include_str!("../web/i18n.js");
const ENGLISH: &str = include_str!("../web/lang/en.js");
const CHINESE: &str = include_str!("../web/lang/zh.js");

/// Every embedded file with its name in `web/`.
const FILES: [(&str, &str); 13] = [
    ("i18n.js", I18N_SCRIPT),
    ("lang/en.js", ENGLISH),
    ("lang/zh.js", CHINESE),
    ("index.html", INDEX),
    ("app.js", SCRIPT),
    ("qr.js", QR_SCRIPT),
    ("ui.js", UI_SCRIPT),
    ("pos.html", POS_PAGE),
    ("pos.js", POS_SCRIPT),
    ("gate.html", GATE_PAGE),
    ("gate.js", GATE_SCRIPT),
    ("app.css", STYLE),
    ("icon.svg", ICON),
];

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
            get(|| async { asset("text/html; charset=utf-8", "index.html") }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", "app.js") }),
        )
        .route(
            "/pos",
            get(|| async { asset("text/html; charset=utf-8", "pos.html") }),
        )
        .route(
            "/pos.js",
            get(|| async { asset("text/javascript; charset=utf-8", "pos.js") }),
        )
        .route(
            "/gate",
            get(|| async { asset("text/html; charset=utf-8", "gate.html") }),
        )
        .route(
            "/gate.js",
            get(|| async { asset("text/javascript; charset=utf-8", "gate.js") }),
        )
        .route(
            "/ui.js",
            get(|| async { asset("text/javascript; charset=utf-8", "ui.js") }),
        )
        .route(
            "/qr.js",
            get(|| async { asset("text/javascript; charset=utf-8", "qr.js") }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", "app.css") }),
        )
        .route(
            "/i18n.js",
            get(|| async { asset("text/javascript; charset=utf-8", "i18n.js") }),
        )
        .route(
            "/lang/en.js",
            get(|| async { asset("text/javascript; charset=utf-8", "lang/en.js") }),
        )
        .route(
            "/lang/zh.js",
            get(|| async { asset("text/javascript; charset=utf-8", "lang/zh.js") }),
        )
        .route(
            "/icon.svg",
            get(|| async { asset("image/svg+xml", "icon.svg") }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", "icon.svg") }),
        )
}

/// Demo mode only: the demo city's tills (merchant ids and signing keys) and staff, for the
/// till page's picker; asked from this machine only (see [`local_host`]). Not found
/// otherwise: real keys are never served.
#[utoipa::path(get, path = "/v1/demo/merchants", tag = "demo",
    responses((status = 200, description = "`{\"merchants\": [...], \"staff\": [...]}`: the demo city's merchants with their keys, and its till staff", body = Object),
              (status = 404, body = crate::error::ErrorBody, description = "not_found: no demo city on this server, or not asked from this machine")))]
pub async fn demo_merchants(
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

/// A page's file: the embedded copy, or, when `CASHLESS_WEB_DIR` names a directory (working
/// on the pages: edit and reload without a rebuild), the file of that name in it.
fn contents(embedded: &'static str, name: &str) -> std::borrow::Cow<'static, str> {
    static WEB_DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let dir = WEB_DIR.get_or_init(|| std::env::var_os("CASHLESS_WEB_DIR").map(Into::into));
    match dir {
        Some(dir) => match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => text.into(),
            Err(error) => {
                tracing::warn!(%error, name, "CASHLESS_WEB_DIR: serving the embedded copy");
                embedded.into()
            }
        },
        None => embedded.into(),
    }
}

fn asset(content_type: &'static str, name: &'static str) -> Response {
    let body = FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map_or("", |(_, embedded)| *embedded);
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
        contents(body, name),
    )
        .into_response()
}
