//! haapi — the agent API tools for shell agents, one multi-call program installed as
//! `APIOPEN.x APIOK.x APIERROR.x APICLOSE.x APICMD.x` (or run as `haapi APIOK.x SVC`).
//!
//! Synopsis: `APIOPEN.x SVC`, `APIOK.x SVC`, `APIERROR.x SVC`, `APICLOSE.x SVC`,
//! `APICMD.x BRINGIN|BRINGOUT|FAILOVER|TAKEOVER SVC`
//!
//! Exit status: 0 go on (or: command accepted); 1 stop, the agent is no longer wanted (the
//! reason on stderr); 2 usage. Nothing is ever printed on stdout. `APIOK.x` is paced by
//! hasvrd: it returns about once a check_interval however often it is called.

use sureha::error::exit_with;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("haapi", sureha::api::tool_main(&args))
}
