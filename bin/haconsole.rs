//! haconsole — the graphical console's web server (DESIGN §11); `$HAHOME/gui/gui.sh` starts
//! it. Serves the page in `$HAHOME/gui` on 127.0.0.1:7012 unless `-l ADDRESS:PORT` says
//! otherwise, and logs in to the admin doors the administrator connects to.
//!
//! Exit status: 1 when it cannot start (the page's files, the address), 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    let mut opts = getopts::Options::new();
    opts.optopt(
        "l",
        "",
        "listen on ADDRESS:PORT (127.0.0.1:7012)",
        "ADDRESS:PORT",
    );
    opts.optopt("g", "", "the page's directory ($HAHOME/gui)", "DIR");
    opts.optflag("h", "help", "usage");
    let usage = "usage: haconsole [-l ADDRESS:PORT] [-g DIR]";
    let m = opts
        .parse(&args[1..])
        .map_err(|e| Error::usage(format!("{e}\n{usage}")))?;
    if m.opt_present("h") {
        println!("{usage}");
        return Ok(());
    }
    if !m.free.is_empty() {
        return Err(Error::usage(usage));
    }
    let listen = m.opt_str("l").unwrap_or_else(|| "127.0.0.1:7012".into());
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        Error::usage(format!(
            "-l {listen}: not ADDRESS:PORT (e.g. 127.0.0.1:7012)"
        ))
    })?;
    let gui = m
        .opt_str("g")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Home::from_env().root.join("gui"));
    let mut console = sureha::console::Console::new(&gui, addr)?;
    // A scrape has no login: this node's figures only on a loopback address.
    console.metrics_home = addr.ip().is_loopback().then(Home::from_env);
    println!("SureHA console: http://{addr}/");
    sureha::console::serve(console, addr)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("haconsole", run(&args))
}
