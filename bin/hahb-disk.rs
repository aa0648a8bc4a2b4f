//! hahb-disk — the heartbeat transport of one `disk` link.
//!
//! Synopsis: `hahb-disk NAME` (started by hasvrd, one per `[privnet NAME]` of type disk)
//!
//! Writes the frames hasvrd gives it into this node's slot of the shared device
//! (`device1`/`device2`, prepared by `havol init`) with direct, synchronous I/O, and passes
//! up the frames the peer writes into its slot, checked like on any link. Each write renews
//! this node's volume locks (see the `disk` module for the layout). Exits when stdin closes.
//!
//! Exit status: 0 stdin closed, 1 failed, 2 usage, 3 configuration (no such link, readable
//! authkey).

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let name = match args {
        [_, name] => name,
        _ => return Err(Error::usage("usage: hahb-disk NAME")),
    };
    let home = Home::from_env();
    let (config, _) = sureha::config::read(&home.config()).map_err(Error::config)?;
    let link = config.link(name).ok_or_else(|| {
        Error::config(format!("{}: no [privnet {name}]", home.config().display()))
    })?;
    sureha::link::run_disk(&home, link)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hahb-disk", run(&args))
}
