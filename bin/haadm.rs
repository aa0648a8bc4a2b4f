//! haadm — administer SureHA on this node.
//!
//! Synopsis: `haadm status | check [FILE] | service ... | privnet ... | stop | reload`, or
//! `haadm` alone for numbered menus. `haadm help` lists every subcommand (DESIGN §5).
//!
//! Talks to hasvrd through `$HAHOME/tmp/hasvrd.fifo` with a private reply FIFO; operations
//! that start or stop a service return once it is done.
//!
//! Exit status: 0 done, 1 refused or failed (one line on stderr says why), 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let mut opts = getopts::Options::new();
    opts.optopt("H", "", "administer a remote node", "HOST");
    opts.optflag("h", "help", "usage");
    opts.parsing_style(getopts::ParsingStyle::StopAtFirstFree);
    let m = opts
        .parse(&args[1..])
        .map_err(|e| Error::usage(format!("{e}\n{}", sureha::request::USAGE)))?;
    if m.opt_present("h") {
        println!("{}", sureha::request::USAGE);
        return Ok(());
    }
    if let Some(host) = m.opt_str("H") {
        return Err(Error::failed(format!(
            "remote administration (-H {host}) is not available in this version yet"
        )));
    }
    let home = Home::from_env();
    let out = sureha::admin::run(&home, &m.free)?;
    print!("{out}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("haadm", run(&args))
}
