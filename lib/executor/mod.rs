//! hasvrd's event loop: one `poll()` over the request FIFO, the signal pipe, the lifeline to
//! hamond and slow reply FIFOs, with the nearest deadline as timeout. It executes the
//! engine's actions and feeds their results back; it decides nothing itself.
//!
//! Here the loop, the actions and `tmp/` upkeep; `requests` the FIFO, `processes` scripts,
//! steps and agents, `links` the link processes and the public network, `nics` the NIC watch.

use crate::child::{self, Children, Spec};
use crate::clock::{Clock, Millis};
use crate::config::{self, Config};
use crate::engine::{Action, AgentId, Engine, Input, Step, TaskId};
use crate::error::{Context, Result};
use crate::fifo::{FifoServer, Outbox};
use crate::files;
use crate::link;
use crate::log::Logger;
use crate::paths::{Daemon, Home};
use crate::request::{self, Reply};
use crate::signals::Signals;
use crate::state;
use crate::supervise::{self, Partner};
use crate::sys;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};

mod addresses;
mod admin;
mod alerts;
mod disks;
mod figures;
mod keys;
mod links;
mod nics;
mod processes;
mod readiness;
mod requests;

/// This instance's boot id, recorded before any frame carries it (see `clock::next_instance`).
fn new_instance(home: &Home) -> Result<u64> {
    let path = home.instance();
    let previous = files::read_regular_text(&path, 64)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let boot = crate::clock::next_instance(previous, crate::clock::unix_millis());
    files::write_atomic(&path, format!("{boot}\n").as_bytes(), 0o600)
        .context(format!("cannot write {}", path.display()))?;
    Ok(boot)
}

/// How often NICs are read without netlink events, and with them (a safety net).
const NIC_POLL: Millis = 200;
/// How far before its start this hasvrd's clock reaches (see `Clock::with_past`).
const DAY: Millis = 86_400_000;
/// The longest hasvrd sleeps with nothing due (an idle node wakes for its beats only).
const IDLE_WAKE: Millis = 10_000;
/// Slow chores (the standing beat given again, the NIC safety poll, the sweeps) are done on
/// a wake that happens anyway when they are due within this long, so an idle hasvrd wakes
/// once for all of them.
const CHORE_SLACK: Millis = 5000;
/// How often the link processes are given the standing beat again (well within
/// `link::relay::STANDING_LIFE`).
const STANDING_REFRESH: Millis = 10_000;
/// Netlink says when a NIC changes; this slow look is only a safety net (a lost event).
const NIC_SAFETY_POLL: Millis = 30_000;

/// What a child of hasvrd is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tag {
    Task(TaskId, String, Step),
    Agent(String, AgentId),
    Link(String),
    Partner,
    /// An alert program's run, and its output file.
    Alert(crate::alert::Run, std::path::PathBuf),
}

/// A heartbeat link process and our ends of its pipes.
struct LinkProc {
    pid: Option<u32>,
    to: Option<OwnedFd>,
    from: Option<OwnedFd>,
    records: link::Records,
    started: Millis,
    young_deaths: u32,
    respawn_at: Millis,
    /// Where the link process keeps the time of the peer's last good frame, and the last
    /// value read from it.
    heard: Option<sys::SharedU64>,
    heard_seen: u64,
    /// It repeats the standing beat (socket, serial); a disk link writes what it gets.
    relays: bool,
}

/// An agent started by an earlier hasvrd: not our child, so watched by pid.
struct Watched {
    service: String,
    agent: AgentId,
    pid: u32,
    token: u64,
    term_sent: Option<Millis>,
}

pub struct Hasvrd {
    home: Home,
    clock: Clock,
    log: Logger,
    engine: Engine,
    fifo: FifoServer,
    outbox: Outbox,
    delayed: Vec<(Millis, String, Reply)>,
    signals: Signals,
    partner: Partner,
    /// When hahb-disk last wrote this node's beat on the lock link (`sys::boottime_millis`,
    /// 0: not yet), told to hamond with every answer to its pings.
    renewed_at: u64,
    children: Children<Tag>,
    watched: Vec<Watched>,
    links: BTreeMap<String, LinkProc>,
    /// The public-network check: our socket, and a replay guard for the peer's frames there.
    public: Option<std::net::UdpSocket>,
    public_guard: crate::frame::ReplayGuard,
    /// The public network's end of the wire (encrypted as the links are).
    public_wire: crate::frame::Wire,
    /// etc/authkey as last loaded (modification time, inode, size): a new one
    /// (`haadm authkey install`) is loaded and the links restart with it.
    authkey_seen: Option<(i64, u64, u64)>,
    next_public_bind: Millis,
    /// The one buffer frames are read into (from the link processes, the public network).
    io_buf: Vec<u8>,
    nics_seen: Vec<crate::engine::NicState>,
    next_nic_poll: Millis,
    /// Link and address changes as they happen (netlink); without it, NICs are polled.
    nic_events: Option<OwnedFd>,
    key: Option<Vec<u8>>,
    boot: u64,
    seq: u64,
    /// Links whose process could not take the last frame (logged once a stretch).
    dropping: Vec<String>,
    /// This node's beat, which the link processes repeat: given again every
    /// `STANDING_REFRESH` (a hung hasvrd's links fall silent) and to a link process started.
    standing: Option<Vec<u8>>,
    next_standing: Millis,
    /// Another frame went through a relaying link this pass: the beat is given again.
    regive: bool,
    /// When the heard pages were last read.
    heard_read_at: Millis,
    next_sweep: Millis,
    inputs: VecDeque<Input>,
    boot_id: String,
    lock: files::InstanceLock,
    /// Request lines dropped so far (reported to the engine for status).
    requests_dropped: u64,
    /// The last state written, to write again should `tmp/` vanish.
    last_state: String,
    next_tmp_check: Millis,
    next_tmp_sweep: Millis,
    tmp_watch: crate::tmp_watch::TmpWatch,
    /// The data path watch, and the configuration it was set up for.
    paths: disks::DataPaths,
    paths_for: Option<std::sync::Arc<Config>>,
    today: String,
    /// The files and devices the services use (readiness, drift).
    files: readiness::FileWatch,
    /// Gratuitous ARP still owed for addresses added.
    announcements: Vec<addresses::Announce>,
    /// Alert programs waiting and running, and the number of the last run.
    alerts: crate::alert::Runs,
    alert_seq: u64,
}

impl Hasvrd {
    /// Start-up, in the documented order: lock, directories and FIFO, signals, state.
    pub fn start(
        home: Home,
        config: Config,
        text: String,
        partner: Partner,
        echo: bool,
    ) -> Result<Hasvrd> {
        let mut log = Logger::new(home.log(), &home.node, "hasvrd");
        log.echo = echo;
        files::ensure_dirs(&home)?;
        let lock = files::InstanceLock::acquire(&home, Daemon::Hasvrd)?;
        // Handled before the pid file names us: a SIGHUP sent to the pid found there (a log
        // rotation) must reopen the log, not kill the hasvrd that just started.
        let signals = Signals::new(&crate::signals::DAEMON)?;
        // The pid file first: a client that finds the FIFO served knows which hasvrd it asks.
        files::write_pid(&home, Daemon::Hasvrd)?;
        let fifo = FifoServer::open(&home.fifo())?;
        let authkey_seen = links::authkey_stamp(&home);
        let also_keys = crate::authkey::load_keys(&home)
            .map(|k| k.1)
            .unwrap_or_default();
        let key = match crate::authkey::load_key(&home) {
            Ok(k) => Some(k),
            Err(e) => {
                log.error(&e.message);
                return Err(e);
            }
        };
        let boot_id = files::boot_id();
        let saved = match files::read_regular_text(&home.state(), state::MAX_FILE) {
            Ok(t) => match state::parse(&t, &boot_id) {
                Ok(p) => Some(p),
                Err(e) => {
                    log.warning(&format!(
                        "{}: {e}; starting with every service out of protection",
                        home.state().display()
                    ));
                    None
                }
            },
            Err(_) => None,
        };
        let saved = saved.map(|mut p| {
            // The engine adopts a running service only on the evidence of a live agent; what
            // is dead is reported as such and the engine decides.
            for s in p.services.iter_mut() {
                if s.agent_pid
                    .is_some_and(|pid| !files::process_alive(pid, s.agent_token))
                {
                    s.agent_pid = None;
                }
            }
            p
        });
        let boot = new_instance(&home)?;
        let nic_events = match sys::nic_events() {
            Ok(fd) => Some(fd),
            Err(e) => {
                log.warning(&format!(
                    "NIC watch: no netlink events ({e}); polling NICs every {NIC_POLL}ms instead"
                ));
                None
            }
        };
        // A day of past: the previous hasvrd's last renewal, told in milliseconds ago, must
        // land before this engine's start, not on it (that would hand it a fresh lease).
        let clock = Clock::with_past(DAY);
        let adopted = saved.as_ref().is_some_and(|s| {
            !s.rebooted
                && s.services
                    .iter()
                    .any(|p| p.phase != state::SavedPhase::Stopped)
        });
        log.info(&format!(
            "hasvrd started (pid {}), {} service(s), {} link(s){}",
            sys::getpid(),
            config.services.len(),
            config.links.len(),
            if adopted {
                ", adopting what the previous hasvrd ran"
            } else {
                ""
            }
        ));
        let mut engine = Engine::new(&home.node, config, text, saved, clock.now());
        engine.set_boot(boot);
        // An inherited partner is our parent, not our child: the lifeline alone watches it.
        let children = Children::default();
        let tmp_watch = crate::tmp_watch::TmpWatch::new(&home);
        Ok(Hasvrd {
            home,
            clock,
            log,
            engine,
            fifo,
            outbox: Outbox::default(),
            delayed: Vec::new(),
            signals,
            partner,
            renewed_at: 0,
            children,
            watched: Vec::new(),
            links: BTreeMap::new(),
            public: None,
            public_guard: crate::frame::ReplayGuard::default(),
            public_wire: crate::frame::Wire::with_keys(key.as_deref(), &also_keys),
            authkey_seen,
            next_public_bind: 0,
            io_buf: vec![0u8; 70_000],
            nics_seen: Vec::new(),
            next_nic_poll: 0,
            nic_events,
            key,
            boot,
            seq: 0,
            dropping: Vec::new(),
            standing: None,
            next_standing: Millis::MAX,
            regive: false,
            heard_read_at: Millis::MAX,
            next_sweep: 0,
            inputs: VecDeque::new(),
            boot_id,
            lock,
            last_state: String::new(),
            requests_dropped: 0,
            next_tmp_check: 0,
            next_tmp_sweep: 0,
            tmp_watch,
            paths: disks::DataPaths::default(),
            paths_for: None,
            today: String::new(),
            files: readiness::FileWatch::default(),
            announcements: Vec::new(),
            alerts: crate::alert::Runs::default(),
            alert_seq: 0,
        })
    }

    /// The previous hasvrd last renewed the volume locks at this `sys::boottime_millis`,
    /// as it told hamond (or later, by an orphaned hahb-disk after it died): the new engine
    /// counts from then, not from its own start.
    pub fn predecessor_renewed_at(&mut self, told: u64) {
        let config = self.engine.shared_config();
        let Some(link) = crate::disk::lease::lock_link(&config) else {
            return;
        };
        let orphan = crate::disk::lease::orphan_renewed_at(&self.home, &link.name);
        let at = told.max(orphan.unwrap_or(0));
        let boot_now = sys::boottime_millis();
        if at == 0 || at > boot_now {
            return;
        }
        self.renewed_at = at;
        let ago = boot_now - at;
        let by = if at > told {
            "the previous hasvrd's orphaned hahb-disk"
        } else {
            "the previous hasvrd"
        };
        self.log.info(&format!(
            "{by} last renewed the volume locks {} ago (disk link {})",
            crate::clock::human(ago),
            link.name
        ));
        self.feed(Input::LeaseRenewed {
            link: link.name.clone(),
            took: ago,
        });
    }

    /// The event loop; returns when the engine has finished.
    pub fn run(mut self) -> Result<()> {
        self.load_admin();
        self.tell_today();
        if let Some(k) = keys::keys_on_disk(&self.home) {
            self.feed(k);
        }
        self.feed(Input::Tick);
        while !self.engine.has_exited() {
            // Only what poll says is ready is read: an idle node makes no futile syscalls.
            let ready = self.wait();
            let now = self.clock.now();
            let mut child_exited = false;
            if ready.contains(&self.signals.fd()) {
                for sig in self.signals.take() {
                    child_exited |= sig == sys::SIGCHLD;
                    self.signal(sig);
                }
            }
            if ready.contains(&self.fifo.fd()) {
                self.read_requests();
            }
            self.read_links(&ready);
            if self
                .public
                .as_ref()
                .is_some_and(|s| ready.contains(&s.as_raw_fd()))
            {
                self.read_public();
            }
            self.bind_public(now);
            if let Some(fd) = self
                .nic_events
                .as_ref()
                .filter(|f| ready.contains(&f.as_raw_fd()))
            {
                // Which NIC changed does not matter: read them all now.
                let mut buf = [0u8; 8192];
                for _ in 0..64 {
                    match sys::read_some(fd, &mut buf) {
                        Ok(n) if n > 0 => {}
                        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {}
                        _ => break,
                    }
                }
                self.next_nic_poll = now;
            }
            self.poll_nics(now);
            if child_exited || self.children.next_deadline().is_some_and(|t| t <= now) {
                self.reap();
            }
            self.sync_links(now);
            let config = self.engine.shared_config();
            if !self
                .paths_for
                .as_ref()
                .is_some_and(|c| std::sync::Arc::ptr_eq(c, &config))
            {
                self.sync_data_paths();
                self.paths_for = Some(config);
                // A new configuration may name NICs: the public-network socket may bind now.
                self.next_public_bind = 0;
            }
            let woken = self.paths.fd().is_some_and(|fd| ready.contains(&fd));
            self.check_data_paths(woken);
            self.watch_adopted(now);
            let partner_ready = self.partner.fd().is_some_and(|fd| ready.contains(&fd));
            self.supervise(now, partner_ready);
            self.children.enforce(now);
            self.abandon_unkillable(now);
            self.send_due_replies(now);
            self.announce_due(now);
            self.outbox.flush();
            if now + CHORE_SLACK >= self.next_sweep {
                crate::fifo::sweep_stale_replies(&self.home);
                self.next_sweep = now + 60_000;
                self.tell_today();
            }
            // The FIFO is the canary of tmp/ (one stat a second, when awake anyway);
            // everything else under it is checked when the canary or the watch says so, and
            // once a minute.
            if self.tmp_watch.fd().is_some_and(|fd| ready.contains(&fd)) && self.tmp_watch.fired() {
                self.next_tmp_check = now;
                self.next_tmp_sweep = now;
            }
            if now >= self.next_tmp_check {
                self.next_tmp_check = now + 1000;
                self.check_authkey(now);
                if !self.fifo.still_at(&self.home.fifo()) || now >= self.next_tmp_sweep {
                    self.next_tmp_sweep = now + 60_000;
                    self.restore_tmp();
                }
            }
            let files_changed = self.readiness_fd().is_some_and(|fd| ready.contains(&fd));
            self.check_readiness(now, files_changed);
            if now + CHORE_SLACK >= self.next_standing {
                self.give_standing(None, now, false);
            }
            self.feed(Input::Tick);
            self.start_alerts(self.clock.now());
        }
        // Deliver the last replies (haadm stop waits for one).
        let until = self.clock.now() + 2000;
        self.send_due_replies(u64::MAX);
        while !self.outbox.fds().is_empty() && self.clock.now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
            self.outbox.flush();
        }
        let _ = files::write_atomic(&self.home.shutdown_marker(), b"", 0o600);
        // After QUIT the pid file stays: agents keep waiting for the next hasvrd.
        if !self.engine.leaves_resources_untouched() {
            files::remove_pid(&self.home, Daemon::Hasvrd);
        }
        self.log.info("hasvrd leaves");
        Ok(())
    }

    /// Sleeps until something is due or a descriptor is ready; returns the ready ones.
    fn wait(&mut self) -> Vec<std::os::fd::RawFd> {
        let now = self.clock.now();
        // Everything timed is among the deadlines below; the rest (the tmp/ canary, the
        // sweeps) is done when awake anyway, and at least this often.
        let mut next = now + IDLE_WAKE;
        for t in [
            Some(self.next_standing),
            self.engine.next_wakeup(),
            self.children.next_deadline(),
            self.delayed.iter().map(|d| d.0).min(),
            self.partner.respawn_due(),
            self.paths.next_deadline(now),
            self.next_announcement(),
            Some(self.readiness_due()),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(t);
        }
        if !self.watched.is_empty() {
            next = next.min(now + 250);
        }
        let mut set = sys::PollSet::default();
        set.read(self.fifo.fd()).read(self.signals.fd());
        for l in self.links.values() {
            set.read(l.from.as_ref().map(|fd| fd.as_raw_fd()));
            if l.pid.is_none() {
                next = next.min(l.respawn_at.max(now));
            }
        }
        set.read(self.public.as_ref().map(|s| s.as_raw_fd()));
        next = next.min(self.next_nic_poll.max(now));
        // Binding the public-network socket is retried (never, while there are no NICs).
        if self.public.is_none() {
            next = next.min(self.next_public_bind.max(now));
        }
        set.read(self.nic_events.as_ref().map(|fd| fd.as_raw_fd()))
            .read(self.paths.fd())
            .read(self.tmp_watch.fd())
            .read(self.partner.fd())
            .read(self.readiness_fd());
        for fd in self.outbox.fds() {
            set.write(fd);
            next = next.min(now + 100);
        }
        let timeout = next.saturating_sub(now).min(IDLE_WAKE) as i32;
        let _ = set.wait(timeout);
        set.ready_fds()
    }

    fn signal(&mut self, sig: i32) {
        match sig {
            sys::SIGCHLD => {}
            sys::SIGTERM | sys::SIGINT => self.feed(Input::Shutdown {
                touch_resources: true,
            }),
            sys::SIGQUIT => self.feed(Input::Shutdown {
                touch_resources: false,
            }),
            sys::SIGHUP => {
                self.log.reopen();
                self.log.info("SIGHUP: reloading the configuration");
                self.feed(Input::Command {
                    cmd: request::Command::Reload,
                    reply: None,
                    caller: None,
                });
            }
            sys::SIGUSR1 => self.feed(Input::Command {
                cmd: request::Command::Dump,
                reply: None,
                caller: None,
            }),
            _ => {}
        }
    }

    /// Somebody removed or moved `tmp/` (or our entries in it): put back the FIFO, the lock,
    /// the pid, instance and state files, so clients, agents and the next hasvrd find them.
    /// Running services are untouched.
    fn restore_tmp(&mut self) {
        let mut restored = match files::restore_tmp(&self.home, Daemon::Hasvrd, &mut self.lock) {
            Ok(r) => r,
            Err(e) => {
                self.log.error(&format!("{}; retrying", e.message));
                return;
            }
        };
        let fifo = self.home.fifo();
        if !self.fifo.still_at(&fifo) {
            let _ = std::fs::remove_file(&fifo);
            match FifoServer::open(&fifo) {
                Ok(f) => {
                    self.fifo = f;
                    restored.push(fifo.display().to_string());
                }
                Err(e) => self.log.error(&format!("{}; retrying", e.message)),
            }
        }
        if restored.is_empty() {
            return;
        }
        self.tmp_watch.rearm(&self.home);
        let _ = files::write_atomic(
            &self.home.instance(),
            format!("{}\n", self.boot).as_bytes(),
            0o600,
        );
        if !self.last_state.is_empty() {
            let text = state::file_text(&self.boot_id, &self.last_state);
            let _ = files::write_atomic(&self.home.state(), text.as_bytes(), 0o600);
        }
        self.log.warning(&format!(
            "{} had disappeared (removed or moved away); recreated it with the running state; services are untouched",
            restored.join(", ")
        ));
    }

    fn supervise(&mut self, now: Millis, partner_ready: bool) {
        let heard = if partner_ready {
            self.partner.read_lifeline()
        } else {
            supervise::Lifeline::Quiet
        };
        if matches!(heard, supervise::Lifeline::Spoke(_)) {
            // hamond asks whether this loop still turns: it does, and here is when the
            // volume locks were last renewed, for the hasvrd that may follow this one, and
            // whether hamond must fence for this loop should it stand still past the lease.
            self.partner.send(&supervise::answer(
                self.renewed_at,
                self.engine.lease_at_stake(),
            ));
        }
        if heard == supervise::Lifeline::HungUp {
            for _ in 0..20 {
                if !self.partner.awaiting_status() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
                self.reap();
            }
            match self.partner.died(&self.home, now, &["-f"]) {
                supervise::Event::Restarted(pid, how) => {
                    self.children.add(pid, Tag::Partner, None);
                    self.log.warning(&format!(
                        "hamond died ({how}); started a new one (pid {pid})"
                    ));
                }
                supervise::Event::Delayed(at, how) => self.log.warning(&format!(
                    "hamond died ({how}); restarting it in {}",
                    crate::clock::human(at - now)
                )),
                supervise::Event::Left(why) => {
                    self.log.info(&format!("{why}; hasvrd goes on alone"))
                }
            }
        } else if self.partner.respawn_due().is_some_and(|t| now >= t) {
            match self.partner.respawn(&self.home, now, &["-f"]) {
                Ok(pid) => {
                    self.children.add(pid, Tag::Partner, None);
                    self.log.info(&format!("started a new hamond (pid {pid})"));
                }
                Err(e) => self
                    .log
                    .error(&format!("cannot start hamond: {e}; retrying")),
            }
        }
    }

    fn send_due_replies(&mut self, now: Millis) {
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, to, reply) = self.delayed.swap_remove(i);
                let _ = self.outbox.send(&self.home, &to, &reply);
            } else {
                i += 1;
            }
        }
    }

    /// Feeds an input and executes the resulting actions, and whatever those feed back.
    fn feed(&mut self, input: Input) {
        if let Input::LeaseRenewed { took, .. } = &input {
            let at = sys::boottime_millis().saturating_sub(*took);
            self.renewed_at = self.renewed_at.max(at);
        }
        self.inputs.push_back(input);
        while let Some(input) = self.inputs.pop_front() {
            let now = self.clock.now();
            self.read_heard(now);
            for action in self.engine.handle(now, input) {
                self.execute(now, action);
            }
            if std::mem::take(&mut self.regive) {
                self.give_standing(None, now, false);
            }
        }
    }

    fn execute(&mut self, now: Millis, action: Action) {
        match action {
            Action::Log { level, text } => self.log.log(level, &text),
            Action::Alert {
                event,
                service,
                text,
            } => self.alert_told(event, &service, &text),
            Action::Reply { to, reply, at } => {
                if at <= now {
                    let _ = self.outbox.send(&self.home, &to, &reply);
                } else {
                    self.delayed.push((at, to, reply));
                }
            }
            Action::Run {
                task,
                service,
                step,
                timeout,
                nic,
            } => self.run_step(now, task, service, step, timeout, nic),
            Action::SendPublic { to, payload } => self.send_public(&to, &payload),
            Action::StartAgent { service, agent } => self.start_agent(service, agent),
            Action::StopAgent { service, agent } => self.stop_agent(now, service, agent),
            Action::WatchAgent {
                service,
                agent,
                pid,
                token,
            } => self.watched.push(Watched {
                service,
                agent,
                pid,
                token,
                term_sent: None,
            }),
            Action::Persist(body) => {
                let text = state::file_text(&self.boot_id, &body);
                self.last_state = body;
                if let Err(e) = files::write_atomic(&self.home.state(), text.as_bytes(), 0o600) {
                    self.log.error(&format!(
                        "cannot save {}: {e}; a restarted hasvrd may not adopt running services",
                        self.home.state().display()
                    ));
                }
            }
            Action::WriteConfig { expected, text } => {
                let path = self.home.config();
                let result = match files::read_regular_text(&path, config::MAX_FILE) {
                    Ok(cur) if cur != expected => Err(format!("{} was changed on disk since hasvrd read it; run 'haadm reload' (or fix it) and try again", path.display())),
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot read {}: {e}", path.display())),
                    _ => files::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| format!("cannot write {}: {e}", path.display())),
                };
                self.inputs.push_back(Input::ConfigWritten(result));
            }
            Action::ReadConfig => self
                .inputs
                .push_back(Input::Reload(config::read(&self.home.config()))),
            Action::Send { link, payload } => self.send(link.as_deref(), &payload),
            Action::Beat { payload } => {
                self.standing = Some(payload);
                self.give_standing(None, now, true);
            }
            Action::Fence { reason } => self.fence(&reason),
            Action::WriteAdmin(text) => self.write_admin(&text),
            Action::Key(files) => self.key_files(now, files),
            Action::Exit => {}
        }
    }
}
