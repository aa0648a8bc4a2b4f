//! hostid — print this host's identity, for the license: 8 lowercase hex digits, the same
//! on every run.
//!
//! Exit status: 0, or 2 for any argument.

use sureha::error::{exit_with, Error, Result};

fn run(args: &[String]) -> Result<()> {
    if args.len() > 1 {
        return Err(Error::usage("usage: hostid"));
    }
    println!("{}", sureha::auth::hostid());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("hostid", run(&args))
}
