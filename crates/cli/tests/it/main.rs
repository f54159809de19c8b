#![allow(clippy::unwrap_used, clippy::expect_used)]
// Scenario tests read as one story from set-up to the last check; production code keeps
// to 100 lines a function (clippy.toml).
#![allow(clippy::too_many_lines)]

//! The `cashless` binary as people run it.

mod audit;
mod gate;
mod serve;
