//! The operator's bearer token: kept only as a SHA-256 digest, compared in constant time.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// Tokens shorter than this are refused at start-up: a guessable operator token is no token.
pub const OPERATOR_TOKEN_MIN_CHARS: usize = 24;

/// The operator token's digest. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct OperatorToken {
    digest: [u8; 32],
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken(***)")
    }
}

impl OperatorToken {
    pub fn new(token: &str) -> Result<OperatorToken, String> {
        if token.chars().count() < OPERATOR_TOKEN_MIN_CHARS {
            return Err(format!(
                "the operator token must have at least {OPERATOR_TOKEN_MIN_CHARS} characters"
            ));
        }
        Ok(OperatorToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Compares digests in constant time, so timing reveals nothing about the token.
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&self.digest))
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The operator: extracting it authenticates the request by the operator token, so an
/// operator route says so in its signature.
#[derive(Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Operator, ApiError> {
        match bearer(&parts.headers) {
            Some(token) if state.operator_token.verify(token) => Ok(Operator),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_token() {
        let token = OperatorToken::new("correct horse battery staple 42").unwrap();
        assert!(token.verify("correct horse battery staple 42"));
        assert!(!token.verify("correct horse battery staple 43"));
        assert!(!token.verify(""));
        assert_eq!(format!("{token:?}"), "OperatorToken(***)");
        assert!(OperatorToken::new("short").is_err());
    }
}
