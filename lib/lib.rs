//! SureHA: a two-node high-availability cluster manager, as small blocking Unix programs.
//!
//! Layers (a module uses only layers below it):
//! 1. `sys` (the only `unsafe`, with `disk::device`'s aligned direct I/O), `clock`, `error`,
//!    `log`.
//! 2. Mechanisms: `files` (atomic writes, locks, pid files), `fifo`, `signals`, `child`,
//!    `supervise`, `config` (the parser).
//! 3. Domain: `paths`, `request`, `state`, `engine` (the pure state machine), `executor`
//!    (hasvrd's loop), `monitor` (hamond's loop), `api` (agents), `admin` (haadm), `disk`
//!    (the disk link and the volume lock), `volume` (havol).

pub mod sys;

pub mod clock;
pub mod error;
pub mod log;

pub mod alert;
pub mod announce;
pub mod child;
pub mod config;
pub mod console;
pub mod disk;
pub mod fifo;
pub mod files;
pub mod signals;
pub mod supervise;

pub mod admin;
pub mod api;
pub mod auth;
pub mod door;
pub mod drill;
pub mod engine;
pub mod events;
pub mod executor;
pub mod export;
pub mod fence;
pub mod forms;
pub mod frame;
pub mod link;
pub mod menus;
pub mod metrics;
pub mod monitor;
pub mod ocf;
pub mod paths;
pub mod request;
pub mod scrape;
pub mod state;
pub mod tmp_watch;
pub mod vip;
pub mod volume;
pub mod watchdog;
