//! The service error: a kind (which the HTTP edge turns into a status), a stable code, a
//! message in plain words, and optional machine-readable details.

use cashless_store::StoreError;
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// A value breaks its field's rule (a phone or card number, an amount, a name too long,
    /// a limit out of range, two proofs where one is wanted): 422 at the HTTP edge, where 400
    /// is kept for a request not shaped as the API document describes (not JSON, a field
    /// missing or of the wrong type).
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    /// Well-formed but refused by a rule (limits, balance, name mismatch …).
    Unprocessable,
    TooManyRequests,
    /// The PIN is locked.
    Locked,
    /// An outside party or the database did not answer; retrying is safe.
    Unavailable,
    Internal,
}

#[derive(Clone, Debug)]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Whether the platform itself failed (storage, shutting down, a bug) rather than a rule
    /// refusing: what callers that classify refusals by whose side they are pass through.
    pub fn is_platform(&self) -> bool {
        matches!(self.kind, ErrorKind::Internal | ErrorKind::Unavailable)
    }

    pub fn with_details(mut self, details: Value) -> ServiceError {
        self.details = Some(details);
        self
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Invalid, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Unprocessable, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::NotFound, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Conflict, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Unavailable, code, message)
    }

    pub fn unauthorized() -> ServiceError {
        ServiceError::new(
            ErrorKind::Unauthorized,
            "unauthorized",
            "sign in first: send Authorization: Bearer <session token>",
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Forbidden, code, message)
    }

    pub fn too_many(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::TooManyRequests, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ServiceError {
        let message = message.into();
        tracing::error!(%message, "internal error");
        ServiceError::new(ErrorKind::Internal, "internal", "internal error")
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::Database(_) | StoreError::Closed | StoreError::NotApplied(_) => {
                tracing::error!(%error, "store unavailable");
                ServiceError::unavailable(
                    "store_unavailable",
                    "the service could not confirm the operation; retry with the same Idempotency-Key",
                )
            }
            other => ServiceError::internal(other.to_string()),
        }
    }
}

impl From<cashless_store::DbError> for ServiceError {
    fn from(error: cashless_store::DbError) -> ServiceError {
        ServiceError::from(StoreError::from(error))
    }
}
