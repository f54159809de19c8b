#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The one integration-test binary of cashless-emvqr.

mod encode;
mod errors;
mod fixtures;
#[cfg(feature = "images")]
mod images;
mod props;
mod support;
mod vectors;
