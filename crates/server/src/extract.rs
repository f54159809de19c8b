//! The extractors handlers use for the query string, path parameters and raw bodies: axum's,
//! with every rejection in the API's error shape (`{"error": {"code", "message"}}`) and in
//! plain words, never axum's plain-text answers or serde's jargon.
//!
//! They carry axum's names so a handler reads as usual (`Query(query): Query<T>`); handlers
//! import them from here, never from `axum::extract` (a test in `tests/it/contract.rs` walks
//! every route with a bad query, a bad path and an oversized body). [`crate::json_errors`]
//! catches whatever answers outside these (and logs it), so no plain-text error escapes.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The query string, parsed into `T`; a bad one is `400 invalid_query`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let detail = rejection.body_text();
    let detail = detail
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&detail);
    ApiError::bad_request(
        "invalid_query",
        format!("the query string is not valid: {detail}"),
    )
}

/// Path parameters, parsed into `T`; a bad one (not UTF-8, say) is `400 invalid_path`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(error) => ApiError::bad_request(
            "invalid_path",
            format!(
                "a part of the path is not valid: {}",
                error.body_text().trim_start_matches("Invalid URL: ")
            ),
        ),
        _ => {
            tracing::error!(%rejection, "path parameters missing from a route");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}

/// The raw body; one over the limit is `413 body_too_large`.
#[derive(Debug)]
pub struct Bytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Bytes, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(Bytes)
            .map_err(|rejection| bytes_rejection(&rejection))
    }
}

pub(crate) fn bytes_rejection(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large()
    } else {
        ApiError::bad_request(
            "body_unreadable",
            "the request body could not be read to its end",
        )
    }
}

/// The answer to a body over [`crate::BODY_BYTES_MAX`].
pub(crate) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is over {} bytes", crate::BODY_BYTES_MAX),
    )
}
