#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod contract;
mod crash;
mod idempotency;
