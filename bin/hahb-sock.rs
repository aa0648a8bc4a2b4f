//! hahb-sock — the heartbeat transport of one `socket` link.
//!
//! Synopsis: `hahb-sock NAME` (started by hasvrd, one per `[privnet NAME]` of type socket)
//!
//! Sends the frames hasvrd writes on stdin to the peer over UDP (`ip1`/`ip2`, `port`), and
//! writes to stdout the frames from the peer whose CRC, HMAC tag (`$HAHOME/etc/authkey`) and
//! sequence check out; bad frames are dropped and counted (`link` module). Exits when stdin
//! closes (hasvrd is gone). If its address is missing it retries every second.
//!
//! Exit status: 0 stdin closed, 1 failed, 2 usage, 3 configuration (no such link, readable
//! authkey).

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let name = match args {
        [_, name] => name,
        _ => return Err(Error::usage("usage: hahb-sock NAME")),
    };
    let home = Home::from_env();
    let (config, _) = sureha::config::read(&home.config()).map_err(Error::config)?;
    let link = config.link(name).ok_or_else(|| {
        Error::config(format!("{}: no [privnet {name}]", home.config().display()))
    })?;
    sureha::link::run_socket(&home, link)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hahb-sock", run(&args))
}
