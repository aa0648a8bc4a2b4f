//! haadm — administer SureHA on this node.
//!
//! Synopsis: `haadm status | check [FILE] | service ... | privnet ... | stop | reload`, or
//! `haadm` alone for numbered menus. `haadm help` lists every subcommand (DESIGN §5).
//!
//! Talks to hasvrd through `$HAHOME/tmp/hasvrd.fifo` with a private reply FIFO; operations
//! that start or stop a service return once it is done. `haadm -H HOST[:PORT] [-u USER]
//! COMMAND...` runs the command on HOST through its admin door (user `admin` unless -u),
//! with the same output and exit status; the password comes from the terminal without echo,
//! or as one line of standard input.
//!
//! Exit status: 0 done, 1 refused or failed (one line on stderr says why), 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let mut opts = getopts::Options::new();
    opts.optopt("H", "", "administer a remote node", "HOST");
    opts.optopt("u", "", "user at the remote node (admin)", "USER");
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
        if m.free.is_empty() {
            return Err(Error::usage(
                "haadm -H HOST [-u USER] COMMAND...: give a command (the menus' Tools > Connect is for interactive use)",
            ));
        }
        let user = m.opt_str("u").unwrap_or_else(|| "admin".into());
        let password =
            sureha::door::client::read_password(&format!("Password for {user}@{host}: "))?;
        let mut session = sureha::door::client::Session::login(&host, &user, &password)?;
        if let Some(w) = session.clear_warning() {
            eprintln!("haadm: {w}");
        }
        print!("{}", session.call(&m.free)?);
        return Ok(());
    } else if m.opt_present("u") {
        return Err(Error::usage("-u USER goes with -H HOST"));
    }
    let home = Home::from_env();
    let out = sureha::haadm::run(&home, &m.free)?;
    print!("{out}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("haadm", run(&args))
}
