//! The agent API (DESIGN §6) for shell agents: the tools `APIOPEN.x APIOK.x APIERROR.x
//! APICLOSE.x APICMD.x`. C agents link `agents/libhaapi.c` (`clusterapi.h`), which speaks the
//! same protocol with the same patience.
//!
//! Every call is one request on the FIFO and one reply. `apiok` is paced by hasvrd: the reply
//! to an agent calling in a tight loop comes once a `check_interval`, so such an agent costs
//! no CPU. While hasvrd is briefly away (it restarts within a second) calls wait for it
//! rather than telling the agent to stop.

use crate::error::{Error, Result};
use crate::fifo::{self, Patience};
use crate::paths::Home;
use crate::request::{ApiCall, Status};
use std::time::Duration;

/// How long an API call waits for a hasvrd that is expected back (it died, or left with
/// QUIT: its pid file is still there), and for one that left on purpose.
const WHILE_DOWN: Duration = Duration::from_secs(120);
const WHILE_GONE: Duration = Duration::from_secs(2);
/// hasvrd takes a request within milliseconds; this long means it lost it.
const TAKEN_WITHIN: Duration = Duration::from_secs(10);
/// Past this, an agent's call is given up (the agent is told to stop): hasvrd answers a
/// paced apiok within one check_interval, at most 120 s.
const API_ANSWER_WITHIN: Duration = Duration::from_secs(300);

/// The answer to an agent.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Go on.
    Go,
    /// Stop: not wanted (anymore), or the call was refused.
    Stop(String),
}

fn call(home: &Home, words: Vec<String>) -> Answer {
    // A missing tmp/ was removed by somebody: hasvrd puts it back within a second.
    let expected_back =
        home.pid_file(crate::paths::Daemon::Hasvrd).exists() || !home.tmp().is_dir();
    // A paced apiok is answered within a check_interval (at most 120 s); an APICMD within
    // what the engine allows the operation.
    let reply = match crate::request::parse_command(&words) {
        Ok(cmd @ crate::request::Command::Operate(..)) => crate::ask::answer_within(home, &cmd),
        _ => API_ANSWER_WITHIN,
    };
    let patience = Patience {
        taken: TAKEN_WITHIN,
        reply: Some(reply),
        while_down: if expected_back {
            WHILE_DOWN
        } else {
            WHILE_GONE
        },
        ask_again: true,
    };
    match fifo::call(home, &words, patience) {
        Ok(r) => match r.status {
            Status::Ok => Answer::Go,
            Status::Stop => {
                Answer::Stop("the service is not running here; the agent is not wanted".into())
            }
            Status::Err(m) => Answer::Stop(m),
        },
        Err(e) => Answer::Stop(e.message),
    }
}

pub fn api(home: &Home, call_kind: ApiCall, service: &str) -> Answer {
    let word = match call_kind {
        ApiCall::Open => "apiopen",
        ApiCall::Ok => "apiok",
        ApiCall::Err => "apierr",
        ApiCall::Close => "apiclose",
    };
    call(home, vec![word.into(), service.into()])
}

pub fn command(home: &Home, cmd: &str, service: &str) -> Answer {
    call(home, vec!["apicmd".into(), cmd.into(), service.into()])
}

/// The shell tools: what `argv[0]` (or the first argument of `haapi`) names.
pub fn tool_main(args: &[String]) -> Result<()> {
    let prog = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let (tool, rest): (String, &[String]) =
        if prog.starts_with("API") {
            (prog, &args[1.min(args.len())..])
        } else {
            match args.get(1) {
                Some(t) => (t.clone(), &args[2.min(args.len())..]),
                None => return Err(Error::usage(
                    "usage: haapi APIOPEN.x|APIOK.x|APIERROR.x|APICLOSE.x SVC | APICMD.x CMD SVC",
                )),
            }
        };
    let home = Home::from_env();
    let name = tool.trim_end_matches(".x").to_ascii_uppercase();
    let answer = match (name.as_str(), rest) {
        ("APIOPEN", [svc]) => api(&home, ApiCall::Open, svc),
        ("APIOK", [svc]) => api(&home, ApiCall::Ok, svc),
        ("APIERROR" | "APIERR", [svc]) => api(&home, ApiCall::Err, svc),
        ("APICLOSE", [svc]) => api(&home, ApiCall::Close, svc),
        ("APICMD", [cmd, svc])
            if ["BRINGIN", "BRINGOUT", "FAILOVER", "TAKEOVER"]
                .contains(&cmd.to_ascii_uppercase().as_str()) =>
        {
            command(&home, cmd, svc)
        }
        ("APICMD", _) => {
            return Err(Error::usage(format!(
                "usage: {tool} BRINGIN|BRINGOUT|FAILOVER|TAKEOVER SERVICE"
            )))
        }
        ("APIOPEN" | "APIOK" | "APIERROR" | "APIERR" | "APICLOSE", _) => {
            return Err(Error::usage(format!("usage: {tool} SERVICE")))
        }
        _ => return Err(Error::usage(format!("unknown API tool '{tool}'"))),
    };
    match answer {
        Answer::Go => Ok(()),
        Answer::Stop(why) => Err(Error::failed(why)),
    }
}
