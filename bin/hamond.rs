//! hamond — start and watch this node's SureHA daemons.
//!
//! Synopsis: `hamond [-f] [-n]`
//!
//! Starts hasvrd and restarts it within a second if it dies; hasvrd does the same for
//! hamond. Without `-f` it detaches and returns once hasvrd answers on its FIFO.
//!
//! Options: `-f` stay in the foreground (and log to stderr too); `-n` check the configuration
//! and exit.
//!
//! Exit status: 0 running (or, with `-f`, left on purpose), 1 failed or already running,
//! 2 usage, 3 invalid configuration.
//!
//! Files: reads `etc/sureha.conf`; appends to `etc/sureha.log`; owns `tmp/hamond.pid`,
//! `tmp/hamond.lock`; removes a stale `tmp/shutdown` at start.
//!
//! Signals: TERM, INT have hasvrd stop the services here, then both leave; QUIT both leave,
//! services keep running; HUP passed to hasvrd (reload); USR1 a line in the log.

use std::time::Duration;
use sureha::error::{exit_with, Error, Result};
use sureha::files;
use sureha::monitor::{wait_ready, Hamond};
use sureha::paths::{Daemon, Home};
use sureha::supervise::{Partner, PARTNER_OPT};
use sureha::sys;

fn run(args: &[String]) -> Result<()> {
    let mut opts = getopts::Options::new();
    opts.optflag("f", "", "stay in the foreground");
    opts.optflag("n", "", "check the configuration and exit");
    opts.optopt(
        "",
        PARTNER_OPT,
        "lifeline descriptors (given by hasvrd)",
        "R,W",
    );
    let m = opts
        .parse(&args[1..])
        .map_err(|e| Error::usage(format!("{e}\nusage: hamond [-f] [-n]")))?;
    let home = Home::from_env();
    let (config, _) = sureha::config::read(&home.config()).map_err(Error::config)?;
    config
        .check_node(&home.node)
        .map_err(|e| Error::config(format!("{}: {e}", home.config().display())))?;
    sureha::authkey::load_key(&home)?;
    if m.opt_present("n") {
        println!("{}: OK", home.config().display());
        return Ok(());
    }
    let partner = match m.opt_str(PARTNER_OPT) {
        Some(spec) => Some(Partner::inherited(Daemon::Hasvrd, &spec)?),
        None => None,
    };
    files::ensure_dirs(&home)?;
    if partner.is_none() {
        for d in [Daemon::Hamond, Daemon::Hasvrd] {
            if files::lock_is_held(&home, d) {
                let pid = files::running_pid(&home, d).map_or(String::from("?"), |p| p.to_string());
                return Err(Error::failed(format!(
                    "{} is already running for {} (pid {pid})",
                    d.name(),
                    home.root.display()
                )));
            }
        }
    }
    let foreground = m.opt_present("f");
    if !foreground && partner.is_none() {
        match sys::fork().map_err(|e| Error::failed(format!("cannot fork: {e}")))? {
            sys::Forked::Parent(child) => return wait_ready(&home, child, Duration::from_secs(15)),
            sys::Forked::Child => {
                sys::detach().map_err(|e| Error::failed(format!("cannot detach: {e}")))?
            }
        }
    }
    Hamond::start(home, partner, foreground)?.run()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hamond", run(&args))
}
