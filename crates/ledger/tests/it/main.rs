#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model;
mod props;
mod scenarios;
