//! Integration tests: the real programs, each node in its own temporary `HAHOME`.
//! Modules follow the product: cli, lifecycle, supervision, api.

mod harness;

mod api;
mod cli;
mod heartbeat;
mod lifecycle;
mod supervision;
