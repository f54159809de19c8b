#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The `cashless` binary as people run it.

mod audit;
mod gate;
mod serve;
