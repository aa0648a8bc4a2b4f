//! hahb-serial — the heartbeat transport of one `rs232` link.
//!
//! Synopsis: `hahb-serial NAME` (started by hasvrd, one per `[privnet NAME]` of type rs232)
//!
//! Opens this node's device of the link (`device1`/`device2`) at `baudrate` in raw mode and
//! sends the frames hasvrd writes on stdin; frames found in the incoming byte stream whose
//! CRC, HMAC tag and sequence check out go to stdout. Line noise and bad frames are dropped
//! and counted; the receiver regains sync at the next frame. Exits when stdin closes. If the
//! device is missing it retries every second.
//!
//! Exit status: 0 stdin closed, 1 failed, 2 usage, 3 configuration.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let name = match args {
        [_, name] => name,
        _ => return Err(Error::usage("usage: hahb-serial NAME")),
    };
    let home = Home::from_env();
    let (config, _) = sureha::config::read(&home.config()).map_err(Error::config)?;
    let link = config.link(name).ok_or_else(|| {
        Error::config(format!("{}: no [privnet {name}]", home.config().display()))
    })?;
    sureha::link::run_serial(&home, link)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hahb-serial", run(&args))
}
