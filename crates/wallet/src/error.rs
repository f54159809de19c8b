//! The wallet's errors: a kind (which the HTTP edge turns into a status), a stable code, a
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
pub struct WalletError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type WalletResult<T> = Result<T, WalletError>;

impl WalletError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> WalletError {
        self.details = Some(details);
        self
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::Invalid, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::Unprocessable, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::NotFound, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::Conflict, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::Unavailable, code, message)
    }

    pub fn unauthorized() -> WalletError {
        WalletError::new(
            ErrorKind::Unauthorized,
            "unauthorized",
            "sign in first: send Authorization: Bearer <session token>",
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::Forbidden, code, message)
    }

    pub fn too_many(code: &'static str, message: impl Into<String>) -> WalletError {
        WalletError::new(ErrorKind::TooManyRequests, code, message)
    }

    pub fn internal(message: impl Into<String>) -> WalletError {
        let message = message.into();
        tracing::error!(%message, "internal error");
        WalletError::new(ErrorKind::Internal, "internal", "internal error")
    }
}

impl std::fmt::Display for WalletError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for WalletError {}

impl From<StoreError> for WalletError {
    fn from(error: StoreError) -> WalletError {
        match error {
            StoreError::Database(_) | StoreError::Closed | StoreError::NotApplied(_) => {
                tracing::error!(%error, "store unavailable");
                WalletError::unavailable(
                    "store_unavailable",
                    "the service could not confirm the operation; retry with the same Idempotency-Key",
                )
            }
            other => WalletError::internal(other.to_string()),
        }
    }
}

impl From<cashless_store::DbError> for WalletError {
    fn from(error: cashless_store::DbError) -> WalletError {
        WalletError::from(StoreError::from(error))
    }
}
