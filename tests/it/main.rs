//! Integration tests: the real programs, each node in its own temporary `HAHOME`.
//! Modules follow the product: cli, lifecycle, supervision, api.

mod disk_rig;
mod harness;
mod webdriver;

mod alerts;
mod api;
mod bench;
mod bench_agent;
mod bench_checked;
mod bench_keepalived;
mod bench_scale;
mod chaos;
mod cli;
mod console;
mod demo;
mod disks;
mod door;
mod encryption;
mod export;
mod failover;
mod heartbeat;
mod ipv6;
mod knowing;
mod lifecycle;
mod links;
mod menus;
mod metrics;
mod pacemaker;
mod postgres;
mod robustness;
mod supervision;
mod types;
mod upgrade;
mod vendors;
