//! One error shape for every endpoint: `{"error": {"code": "...", "message": "..."}}`, with a
//! stable machine-readable `code` and the right status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cashless_store::StoreError;
use serde_json::{Value, json};

/// The error shape of every endpoint, as the OpenAPI document describes it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: branch on this.
    #[schema(example = "sms_code_invalid")]
    pub code: String,
    /// Plain words for people.
    pub message: String,
    /// Machine-readable context, e.g. `attempts_left`, `remaining`, `locked_until`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// A refused ledger batch: every item's result (the refused one's reason, `not_applied`
    /// for the others).
    #[schema(value_type = Option<Vec<Object>>)]
    pub results: Option<Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra machine-readable context (e.g. per-item results of a rejected batch).
    pub details: Option<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// The request is not shaped as the API document describes (not JSON, a field missing or
    /// of the wrong type, a query string or path that does not parse): 400.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A value breaks its field's rule (an id that is no id, a currency not known, a limit out
    /// of range): 422.
    pub fn invalid(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required: Authorization: Bearer <token>",
        )
    }

    pub fn with_details(mut self, key: &'static str, value: Value) -> ApiError {
        self.details = Some((key, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some((key, value)), Some(object)) = (self.details, error.as_object_mut()) {
            object.insert(key.to_owned(), value);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Database(_) | StoreError::Closed | StoreError::NotApplied(_) => {
                tracing::error!(%error, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database did not confirm the write; retry with the same ids (a retry never applies anything twice)",
                )
            }
            StoreError::Config(_) | StoreError::SchemaTooNew { .. } | StoreError::Internal(_) => {
                tracing::error!(%error, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl From<cashless_kernel::ServiceError> for ApiError {
    fn from(error: cashless_kernel::ServiceError) -> ApiError {
        use cashless_kernel::ErrorKind;
        let status = match error.kind {
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Locked => StatusCode::LOCKED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let api = ApiError::new(status, error.code, error.message);
        match error.details {
            Some(details) => api.with_details("details", details),
            None => api,
        }
    }
}
