//! Request ids and the access log.
//!
//! Every request gets an id: the client's `X-Request-Id` if it sent a sensible one (up to 64
//! characters of `A-Z a-z 0-9 - _ . :`), else one made here. It is answered in `X-Request-Id`
//! and every log line written while the request runs carries it (a `request` span), so a
//! refusal a merchant reports can be found in the log.
//!
//! The access log is one line per request: method, route (never the raw path, which may hold
//! an order number), status, latency. Headers, and so tokens, are never logged. How many
//! lines is [`AccessLog`]: by default only refusals, failures and slow requests, because
//! under load a line per request is most of what the log holds (116 MB in 80 s of `bench
//! pay`) and costs throughput (BENCHMARKS.md, "The access log").

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Requests slower than this are logged whatever the setting (but `off`).
pub const SLOW: Duration = Duration::from_secs(1);

/// Which requests get an access-log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessLog {
    /// None.
    Off,
    /// Refusals (4xx), failures (5xx) and slow requests.
    #[default]
    Errors,
    /// Those, and one request in N.
    Sample(u32),
    /// Every request.
    All,
}

impl FromStr for AccessLog {
    type Err = String;

    fn from_str(text: &str) -> Result<AccessLog, String> {
        match text {
            "off" => Ok(AccessLog::Off),
            "errors" => Ok(AccessLog::Errors),
            "all" => Ok(AccessLog::All),
            _ => text
                .strip_prefix("sample:")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n > 0)
                .map(AccessLog::Sample)
                .ok_or_else(|| {
                    format!("{text:?}: the access log is off, errors, all or sample:N (N ≥ 1)")
                }),
        }
    }
}

impl AccessLog {
    fn wants(self, status: u16, took: Duration, n: u64) -> bool {
        let notable = status >= 400 || took >= SLOW;
        match self {
            AccessLog::Off => false,
            AccessLog::Errors => notable,
            AccessLog::Sample(every) => notable || n.is_multiple_of(u64::from(every)),
            AccessLog::All => true,
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a client.
const REQUEST_ID_CHARS_MAX: usize = 64;

/// Requests seen, for ids and sampling; ids start from a random point per process so two
/// processes' logs do not share them.
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// A tag for this process's ids: its start time's nanoseconds and its pid.
fn process_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

fn request_id(request: &Request, n: u64) -> String {
    let sent = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=REQUEST_ID_CHARS_MAX).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match sent {
        Some(id) => id.to_owned(),
        None => format!("{:08x}-{n:x}", PROCESS.get_or_init(process_tag)),
    }
}

/// Middleware: the request id, its span, and the access-log line.
pub async fn log_request(
    State(access_log): State<AccessLog>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
    let id = request_id(&request, n);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let took = started.elapsed();
    let status = response.status().as_u16();
    if access_log.wants(status, took, n) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _entered = span.enter();
        if status >= 500 {
            tracing::warn!(%method, route, status, micros, "request");
        } else {
            tracing::info!(%method, route, status, micros, "request");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_and_choose_their_lines() {
        assert_eq!("errors".parse(), Ok(AccessLog::Errors));
        assert_eq!("sample:100".parse(), Ok(AccessLog::Sample(100)));
        assert!("sample:0".parse::<AccessLog>().is_err());
        assert!("some".parse::<AccessLog>().is_err());
        let fast = Duration::from_millis(3);
        assert!(!AccessLog::Errors.wants(200, fast, 0));
        assert!(AccessLog::Errors.wants(404, fast, 0));
        assert!(AccessLog::Errors.wants(200, SLOW, 0));
        assert!(AccessLog::Sample(10).wants(200, fast, 20));
        assert!(!AccessLog::Sample(10).wants(200, fast, 21));
        assert!(!AccessLog::Off.wants(500, SLOW, 0));
        assert!(AccessLog::All.wants(200, fast, 7));
    }
}
