//! SureHA: a two-node high-availability cluster manager, as small blocking Unix programs.
//!
//! The house by floor: a module uses only floors below its own (`tests/house.rs` checks
//! that no two modules, nor two files, form a circle). Programs (`bin/`) sit on top.
//!
//! 1. `sys` the only `unsafe` (with `disk::device`'s direct I/O); `error` errors with their
//!    exit status; `state` hasvrd's state file; `metrics` Prometheus text format; `announce`
//!    gratuitous ARP and neighbour advertisements, as frames.
//! 2. `clock` monotonic milliseconds; `paths` every file, named once; `signals` the
//!    self-pipe; `vip` floating addresses on NICs; `ocf` OCF agents' names.
//! 3. `files` atomic writes, pid files, locks; `log` the log; `child` child processes;
//!    `watchdog` hamond's watch on hasvrd's loop.
//! 4. `config` sureha.conf: reading, checking, editing; `supervise` hamond and hasvrd
//!    watching each other; `tmp_watch` what goes from tmp/; `authkey` the cluster's keys.
//! 5. `request` request lines and replies; `auth` passwords and logins; `alert` alert runs;
//!    `events` the log for a follower; `export` a Pacemaker CIB; `fence` taking a node down;
//!    `forms` the create forms.
//! 6. `frame` heartbeat frames and their wire; `fifo` the request FIFO.
//! 7. `disk` the shared disk's layout, its direct I/O and the volume lock; `ask` asking
//!    hasvrd and waiting the right time; `scrape` `haadm metrics`.
//! 8. `link` the link processes: one loop, three transports (socket, serial, disk); `admin`
//!    haadm's one-shot commands; `api` the agents' tools; `drill` a timed move there and back.
//! 9. `engine` every decision, a pure state machine; `door` the admin door; `volume` havol.
//! 10. `executor` hasvrd's loop; `monitor` hamond's loop; `console` the browser console;
//!     `menus` the numbered menus.
//! 11. `haadm` haadm's command line: the menus, a drill, or one command.

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
pub mod ask;
pub mod auth;
pub mod authkey;
pub mod door;
pub mod drill;
pub mod engine;
pub mod events;
pub mod executor;
pub mod export;
pub mod fence;
pub mod forms;
pub mod frame;
pub mod haadm;
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
