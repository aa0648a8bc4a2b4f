//! What goes into the engine and what comes out of it: the inputs the executor (or the
//! simulator) feeds, the actions it carries out, the steps of a plan.

use super::{DataPath, NicState};
use crate::clock::Millis;
use crate::config::{AlertEvent, Config, Service};
use crate::log::Level;
use crate::request::{Command, Reply};
use std::collections::BTreeMap;

pub type TaskId = u64;
pub type AgentId = u64;

/// A client's reply FIFO name.
pub type ReplyTo = String;

/// One step of a start or stop plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Mount(usize),
    AddIps,
    StartScript,
    StartAgent,
    StopAgent,
    StopScript,
    DelIps,
    Umount(usize),
}

impl Step {
    pub(super) fn describe(self, s: &Service) -> String {
        match self {
            Step::Mount(i) => format!("mount {}", s.volumes.get(i).map_or("?", |v| &v.mount_point)),
            Step::Umount(i) => format!(
                "unmount {}",
                s.volumes.get(i).map_or("?", |v| &v.mount_point)
            ),
            Step::AddIps => "add floating addresses".into(),
            Step::DelIps => "remove floating addresses".into(),
            Step::StartScript => format!("start script {}", s.start),
            Step::StopScript => format!("stop script {}", s.stop),
            Step::StartAgent => "start agent".into(),
            Step::StopAgent => "stop agent".into(),
        }
    }
}

/// Of what one read of the links gave, keeps only each link's newest beat (with every other
/// message, in order): a beat carries the peer's whole state, so the older ones say nothing
/// the newest does not, and acted on in between (after hasvrd stood still, several wait)
/// they would have it decide on what is no longer so.
pub fn newest_beats_only(inputs: &mut Vec<Input>) {
    let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        if let Input::Frame { link, payload, .. } = input {
            if payload.first() == Some(&crate::frame::BEAT_KIND) {
                newest.insert(link, i);
            }
        }
    }
    let keep: Vec<bool> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| match input {
            Input::Frame { link, payload, .. }
                if payload.first() == Some(&crate::frame::BEAT_KIND) =>
            {
                newest.get(link.as_str()) == Some(&i)
            }
            _ => true,
        })
        .collect();
    let mut k = keep.iter();
    inputs.retain(|_| k.next().copied().unwrap_or(true));
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Time passed.
    Tick,
    /// A link process says the peer is late on its link (no frame for an interval and a
    /// half): a pass, which asks over the public network.
    Late { link: String },
    /// A request from haadm, an agent, or the remote door.
    Command {
        cmd: Command,
        reply: Option<ReplyTo>,
        /// The process group of the local process that asked (0: it could not be told):
        /// an agent's calls count only from the agent's own group.
        caller: Option<u32>,
    },
    /// A step's program ended.
    TaskDone {
        task: TaskId,
        result: Result<(), String>,
    },
    /// An agent process runs; `token` tells it from a later process with the same pid.
    AgentSpawned {
        service: String,
        agent: AgentId,
        pid: u32,
        token: u64,
    },
    /// An agent process ended (or could not start).
    AgentExited {
        service: String,
        agent: AgentId,
        how: String,
    },
    /// A checked frame from the peer arrived on a link (the same frame may come on several).
    Frame {
        link: String,
        boot: u64,
        seq: u64,
        payload: Vec<u8>,
    },
    /// A link process's counters of dropped frames.
    LinkStats { link: String, line: String },
    /// The executor did what `Action::Key` asked: for a step (`keys::OFFER` when it made a
    /// key, `HELD` when it stored the peer's, `SWITCHED` when it switched), the key and its
    /// fingerprint, or why not.
    KeyFiles {
        step: u8,
        result: Result<(Vec<u8>, String), String>,
    },
    /// At start: the key files as they are (fingerprints of etc/authkey, etc/authkey.next,
    /// etc/authkey.prev): a change of key the last hasvrd left unfinished goes on.
    KeysOnDisk {
        main: String,
        next: Option<String>,
        prev: Option<String>,
    },
    /// How many request lines the executor has dropped so far (stray bytes, overlong or
    /// unreadable lines), for status.
    RequestsDropped(u64),
    /// This node's NICs named in the configuration, when any changed.
    Nics(Vec<NicState>),
    /// The configuration file was written (or not) after `WriteConfig`.
    ConfigWritten(Result<(), String>),
    /// A new configuration was read and parsed (after `haadm reload` or SIGHUP).
    Reload(Result<(Config, String), String>),
    /// hahb-disk wrote this node's beat on a disk link (`took` ms ago it began): the volume
    /// locks are renewed.
    LeaseRenewed { link: String, took: Millis },
    /// The data path of this node's volume devices, when any changed.
    DataPaths(Vec<DataPath>),
    /// What `etc/license` and `etc/lock` held at start (`admin_state` text).
    AdminLoaded(String),
    /// What the executor found about the files and devices the services use, when it changed.
    Readiness(LocalFacts),
    /// Today's date, `YYYY-MM-DD` (for license expiry), when it changes.
    Today(String),
    /// Leave: stop every service here first (TERM), or leave everything as it is (QUIT).
    Shutdown { touch_resources: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run {
        task: TaskId,
        service: String,
        step: Step,
        timeout: Millis,
        /// For AddIps: the NIC chosen for the addresses.
        nic: Option<String>,
    },
    /// This node's beat, new: every link sends it now, and a socket or serial link repeats
    /// it every interval until the next one (`link::relay`).
    Beat {
        payload: Vec<u8>,
    },
    /// Send a message to the peer over the public network, to these addresses.
    SendPublic {
        to: Vec<std::net::IpAddr>,
        payload: Vec<u8>,
    },
    StartAgent {
        service: String,
        agent: AgentId,
    },
    StopAgent {
        service: String,
        agent: AgentId,
    },
    /// An agent from before a restart of hasvrd: watch that it lives.
    WatchAgent {
        service: String,
        agent: AgentId,
        pid: u32,
        token: u64,
    },
    Reply {
        to: ReplyTo,
        reply: Reply,
        /// Not before this time (agents' `apiok` is paced).
        at: Millis,
    },
    Log {
        level: Level,
        text: String,
    },
    /// Tell the `[alert]` programs that want it (DESIGN §14); `text` is the event's log line,
    /// `service` is empty for a node's events. Only made when some section wants the event.
    Alert {
        event: AlertEvent,
        service: String,
        text: String,
    },
    Persist(String),
    /// Send a message to the peer: on one link, or on every link (`None`).
    Send {
        link: Option<String>,
        payload: Vec<u8>,
    },
    /// Replace the configuration file, if it still holds `expected`.
    WriteConfig {
        expected: String,
        text: String,
    },
    /// Read the configuration file again and feed `Reload`.
    ReadConfig,
    /// Replace `etc/license` and `etc/lock` with this administrative state.
    WriteAdmin(String),
    /// This node cannot let go of a volume: take it down now (`[admin] fence`).
    Fence {
        reason: String,
    },
    /// Change the key files (`keys`).
    Key(KeyFiles),
    /// Everything is done: leave.
    Exit,
}

/// This node, its peer and the time: what most concerns of the engine need beside their
/// own data (`here!` borrows them from the engine field by field).
pub(super) struct Here<'a> {
    pub node: &'a str,
    pub peer: &'a str,
    pub now: Millis,
}

/// Logs a line: the action every concern hands out.
pub(super) fn log(out: &mut Vec<Action>, level: Level, text: String) {
    out.push(Action::Log { level, text });
}

/// What the executor does to the key files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyFiles {
    /// A new key in etc/authkey.next; feed `KeyMade`.
    Make,
    /// This key (the peer's offer) in etc/authkey.next; feed `KeyStored`.
    Store(Vec<u8>),
    /// etc/authkey → etc/authkey.prev, etc/authkey.next (fingerprint) → etc/authkey; feed
    /// `KeySwitched`.
    Switch(String),
    /// etc/authkey.prev removed: the old key is refused.
    DropOld,
    /// etc/authkey.next removed: the offer failed.
    DropNext,
}

/// What the executor found about one file a service uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFact {
    pub service: String,
    pub role: &'static str,
    /// As the configuration names it (what both nodes compare: their HAHOMEs may differ).
    pub name: String,
    /// Where this node found it.
    pub path: String,
    /// Its digest and whether it is executable; or why it cannot be used (missing, unreadable).
    pub digest: Result<(String, bool), String>,
    pub must_execute: bool,
}

/// A volume device as this node sees it: `None` when it is there and readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceFact {
    pub service: String,
    pub device: String,
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalFacts {
    pub files: Vec<FileFact>,
    pub devices: Vec<DeviceFact>,
}
