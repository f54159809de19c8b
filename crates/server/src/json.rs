//! JSON at the edge: an extractor whose rejections use the API's error shape, and the wire
//! forms of ids, amounts and times.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON object body, parsed into `T`: `Json<T>` whose errors are `{"error": {...}}` with a
/// code, not axum's plain text. The top level must be an object, as the document says (serde
/// would otherwise read `["258036"]` as `{"pin": "258036"}`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// A JSON array body (the ledger's batches), parsed into `Vec<T>`.
#[derive(Debug)]
pub struct ApiJsonList<T>(pub Vec<T>);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<ApiJson<T>, ApiError> {
        json_body(request, state, b'{', "an object")
            .await
            .map(ApiJson)
    }
}

impl<S, T> FromRequest<S> for ApiJsonList<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<ApiJsonList<T>, ApiError> {
        json_body(request, state, b'[', "an array")
            .await
            .map(ApiJsonList)
    }
}

/// Reads a JSON body whose top level opens with `opens`.
async fn json_body<S: Send + Sync, T: DeserializeOwned>(
    request: Request,
    state: &S,
    opens: u8,
    shape: &str,
) -> Result<T, ApiError> {
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
    if !json {
        return Err(json_rejection(JsonRejection::MissingJsonContentType(
            Default::default(),
        )));
    }
    let crate::extract::Bytes(body) = crate::extract::Bytes::from_request(request, state).await?;
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|&byte| byte != opens) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("the body must be {shape}"),
        ));
    }
    Json::<T>::from_bytes(&body)
        .map(|Json(value)| value)
        .map_err(json_rejection)
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            ApiError::bad_request("invalid_request", plain_serde(&error.body_text()))
        }
        JsonRejection::JsonSyntaxError(error) => {
            let text = error.body_text();
            let detail = text
                .strip_prefix("Failed to parse the request body as JSON: ")
                .unwrap_or(&text)
                .replace('`', "");
            ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {detail}"),
            )
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large",
            )
        }
        other => ApiError::bad_request("invalid_json", other.body_text()),
    }
}

/// serde's account of a body that does not fit, in plainer words: which field, and what
/// was wrong with it (no "deserialize", no line and column of a one-line body).
pub(crate) fn plain_serde(text: &str) -> String {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let text = match text.rfind(" at line ") {
        Some(at) if text[at..].contains(" column ") => &text[..at],
        _ => text,
    };
    let (path, rest) = match text.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (Some(path), rest),
        _ => (None, text),
    };
    let said = if let Some(field) = field_named(rest, "missing field `") {
        format!("the field {field} is missing")
    } else if let Some(field) = field_named(rest, "unknown field `") {
        let expected = rest
            .split_once(", expected ")
            .map(|(_, expected)| expected.replace('`', ""))
            .map_or_else(String::new, |expected| format!(" (it takes {expected})"));
        format!("{field} is not a field of this request{expected}")
    } else if let Some(rest) = rest
        .strip_prefix("invalid type: ")
        .or_else(|| rest.strip_prefix("invalid value: "))
    {
        match rest.split_once(", expected ") {
            Some((found, expected)) => {
                format!("expected {expected}, not {}", found.replace('`', ""))
            }
            None => rest.to_owned(),
        }
    } else {
        rest.to_owned()
    };
    match path {
        Some(path) if path != "." => format!("{path}: {said}"),
        _ => said,
    }
}

fn field_named<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.split('`').next()
}

pub use cashless_consumer::rfc3339;

#[cfg(test)]
mod tests {
    use super::plain_serde;

    #[test]
    fn serde_errors_read_as_words() {
        for (serde, plain) in [
            (
                "Failed to deserialize the JSON body into the target type: missing field `auth_code` at line 1 column 20",
                "the field auth_code is missing",
            ),
            (
                "Failed to deserialize the JSON body into the target type: amount: invalid type: integer `5`, expected a string at line 1 column 12",
                "amount: expected a string, not integer 5",
            ),
            (
                "unknown field `colour`, expected `phone` or `code` at line 1 column 9",
                "colour is not a field of this request (it takes phone or code)",
            ),
            ("expected value at line 1 column 1", "expected value"),
        ] {
            assert_eq!(plain_serde(serde), plain);
        }
    }
}
