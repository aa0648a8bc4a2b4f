//! hasvrd — the SureHA engine of one node.
//!
//! Synopsis: `hasvrd [-n] [-f] [--partner R,W] [--renewed-at MS]`
//!
//! Runs the engine's `poll()` loop: reads requests on `$HAHOME/tmp/hasvrd.fifo`, runs start
//! and stop scripts, agents and the volume and address helpers, and restarts hamond if it dies.
//! Normally started by hamond, never by hand.
//!
//! Options: `-n` check the configuration and exit; `-f` also log to stderr;
//! `--partner R,W` the lifeline descriptors from the daemon that started it; `--renewed-at
//! MS` when the previous hasvrd last renewed the volume locks (boot-time ms, as it told
//! hamond; hamond gives it when it replaces a frozen or dead hasvrd).
//!
//! Exit status: 0 left on purpose, 1 failed, 2 usage, 3 invalid configuration (not respawned).
//!
//! Files: reads `etc/sureha.conf`; appends to `etc/sureha.log`; owns `tmp/hasvrd.fifo`,
//! `tmp/hasvrd.pid`, `tmp/hasvrd.lock`, `tmp/hasvrd.state`, `tmp/out.*`; writes
//! `tmp/shutdown` when it leaves on purpose.
//!
//! Signals: TERM, INT stop the services here and leave; QUIT leave without touching them
//! (the next hasvrd adopts them); HUP validate and reload the configuration (keep the old one
//! on error) and reopen the log; USR1 dump the state to the log.

use sureha::error::{exit_with, Error, Result};
use sureha::executor::Hasvrd;
use sureha::paths::{Daemon, Home};
use sureha::supervise::{Partner, PARTNER_OPT, RENEWED_OPT};

fn run(args: &[String]) -> Result<()> {
    let mut opts = getopts::Options::new();
    opts.optflag("n", "", "check the configuration and exit");
    opts.optflag("f", "", "log to stderr too");
    opts.optopt("", PARTNER_OPT, "lifeline descriptors", "R,W");
    opts.optopt(
        "",
        RENEWED_OPT,
        "when the previous hasvrd last renewed the volume locks (boot-time ms)",
        "MS",
    );
    let m = opts
        .parse(&args[1..])
        .map_err(|e| Error::usage(format!("{e}\nusage: hasvrd [-n] [-f]")))?;
    let home = Home::from_env();
    let (config, text) = sureha::config::read(&home.config()).map_err(Error::config)?;
    config
        .check_node(&home.node)
        .map_err(|e| Error::config(format!("{}: {e}", home.config().display())))?;
    if m.opt_present("n") {
        println!("{}: OK", home.config().display());
        return Ok(());
    }
    let partner = match m.opt_str(PARTNER_OPT) {
        Some(spec) => Partner::inherited(Daemon::Hamond, &spec)?,
        None => Partner::none(Daemon::Hamond),
    };
    let renewed_at =
        match m.opt_str(RENEWED_OPT) {
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                Error::usage(format!("--{RENEWED_OPT} wants milliseconds, not '{v}'"))
            })?),
            None => None,
        };
    let mut hasvrd = Hasvrd::start(home, config, text, partner, m.opt_present("f"))?;
    if let Some(at) = renewed_at {
        hasvrd.predecessor_renewed_at(at);
    }
    hasvrd.run()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hasvrd", run(&args))
}
