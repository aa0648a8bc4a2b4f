//! Random worlds: a configuration, faults and administrator commands drawn from a seed.

use super::disks::DataFault;
use super::{config_text, service, Path, Rng, Sim, ALPHA, NAMES};
use crate::clock::Millis;
use crate::config;
use crate::engine::Input;

/// How long the world needs, once quiet, to settle: a boot's grace (2 s), detection
/// (1.5 s), and a restart's and a move's steps (each at most 1 s here).
pub const SETTLE: Millis = 12_000;

/// One randomised run: faults and commands for `chaos` ms, then everything healed.
pub fn random_run(seed: u64, chaos: Millis) -> Sim {
    let mut r = Rng::new(seed);
    let mut text = String::new();
    let n_services = 1 + r.below(3);
    let group_switchback = r.chance(500);
    for i in 0..n_services {
        let mut extra = format!("restart_times = {}\n", r.below(3));
        let grouped = i > 0 && r.chance(400);
        if grouped {
            extra.push_str("groupid = g\n");
            if group_switchback {
                extra.push_str("switchback = yes\n");
            }
        } else if r.chance(500) {
            extra.push_str("switchback = yes\n");
        }
        if r.chance(400) {
            extra.push_str(&format!(
                "active_ip = 192.0.2.{}\nactive_nic = eth0\nstandby_nic = eth0\n",
                100 + i
            ));
        }
        if r.chance(300) {
            extra.push_str(&format!("volume = /dev/a{i} /dev/b{i} /srv/{i}\n"));
        }
        let s = service(&format!("s{i}"), &extra);
        text.push_str(&s.replace(
            "active_server = alpha\nstandby_server = beta",
            if !grouped && r.chance(300) {
                "active_server = beta\nstandby_server = alpha"
            } else {
                "active_server = alpha\nstandby_server = beta"
            },
        ));
    }
    // A group shares its servers and its switchback setting (as the configuration demands).
    // Heartbeats of 500 ms (down after 1.5 s): faults are timed against that window.
    // Some worlds have a disk link (drawn apart, so the other worlds stay as they were).
    let disk = Rng::new(seed ^ 0x5eed_d15c).chance(400);
    if disk {
        text.insert_str(0, "\n[privnet disk]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/lease\ndevice2 = /dev/lease\ninterval = 200ms\nmaxmiss = 3\n");
    }
    // Some worlds switch back calmly (drawn apart as well): every switchback waits a second.
    if Rng::new(seed ^ 0xca11_5bac).chance(300) {
        text = text.replace(
            "switchback = yes\n",
            "switchback = yes\nswitchback_delay = 1s\n",
        );
    }
    let text = config_text(&text).replace("interval = 100ms", "interval = 500ms");
    let (cfg, mut s) = match config::parse("sim", &text) {
        Ok(parsed) => {
            let s = Sim::with_config(&text, parsed);
            (text, s)
        }
        Err(_) => {
            let text = config_text(&service("s0", ""));
            let s = Sim::new(&text);
            (text, s)
        }
    };
    s.step_failures = r.below(40);
    s.trace
        .push(format!("seed {seed}: {}", cfg.replace('\n', " | ")));
    s.rng = Some(Rng::new(seed ^ 0xdead_beef));
    let names: Vec<String> = s.engines[0]
        .config()
        .services
        .iter()
        .map(|c| c.name.clone())
        .collect();
    s.run(600);
    for n in &names {
        s.command(ALPHA, &format!("service bringin {n}"), None);
    }
    // Half the worlds also meet the faults modelled later (drawn apart, so that a world
    // without them runs exactly as before they were).
    let mut more = Rng::new(seed ^ 0x0dd_fa17);
    let later_faults = more.chance(500);
    // Half the worlds have a direct cable for their private link (carrier), and some of
    // those see it pulled and put back (drawn apart as well).
    let mut cable = Rng::new(seed ^ 0x00ca_b1e5);
    s.direct_cable = cable.chance(500);
    if s.direct_cable {
        for n in 0..2 {
            s.set_nic(n, true);
        }
    }
    let end = s.now + chaos;
    while s.now < end {
        let wait = 1 + r.below(2000);
        s.run(wait);
        if s.direct_cable && cable.chance(60) {
            let pulled = !s.cable_pulled;
            s.pull_cable(pulled);
        }
        if later_faults && more.chance(300) {
            later_fault(&mut s, &mut more, &names);
            continue;
        }
        match r.below(20) {
            0 | 1 => {
                let n = r.below(2) as usize;
                if s.is_up(n) && s.is_up(1 - n) {
                    s.crash(n);
                } else if !s.is_up(n) {
                    s.boot(n);
                }
            }
            2 | 3 => {
                let (ch, dir) = (r.below(2) as usize, r.below(2) as usize);
                s.paths[ch][dir].up = !s.paths[ch][dir].up;
                s.trace.push(format!(
                    "{} path {} {} {}",
                    s.now,
                    ["private", "public"][ch],
                    ["alpha->beta", "beta->alpha"][dir],
                    if s.paths[ch][dir].up { "up" } else { "CUT" }
                ));
            }
            4 => {
                for ch in 0..2 {
                    for dir in 0..2 {
                        s.paths[ch][dir] = Path {
                            up: s.paths[ch][dir].up,
                            loss: r.below(300),
                            dup: r.below(100),
                            delay_max: 1 + r.below(80),
                        };
                    }
                }
            }
            5 | 6 => {
                let (n, svc) = (
                    r.below(2) as usize,
                    names[r.below(names.len() as u64) as usize].clone(),
                );
                if let Some(i) = s.sick.iter().position(|x| *x == (n, svc.clone())) {
                    s.sick.remove(i);
                } else {
                    s.sick.push((n, svc));
                }
            }
            7 => {
                let n = r.below(2) as usize;
                let ok = s.nic_down[n];
                s.set_nic(n, ok);
            }
            8 => {
                // An agent dies on its own.
                let n = r.below(2) as usize;
                if let Some((svc, (agent, _))) = s.hosts[n]
                    .agents
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), *v))
                {
                    s.hosts[n].agents.remove(&svc);
                    s.trace
                        .push(format!("{} {} agent of {svc} dies", s.now, NAMES[n]));
                    s.feed(
                        n,
                        Input::AgentExited {
                            service: svc,
                            agent,
                            how: "killed by signal 9".into(),
                        },
                    );
                }
            }
            9 => {
                // Configuration: a service created or removed, or a reload.
                let n = r.below(2) as usize;
                let cmd = match r.below(3) {
                    0 => "service create extra active_server=beta standby_server=alpha start=a stop=b".to_string(),
                    1 => "service remove extra".to_string(),
                    _ => "reload".to_string(),
                };
                if s.is_up(n) {
                    s.command(n, &cmd, None);
                }
            }
            10 => {
                // SureHA stopped on a node (haadm stop), started again later by a boot.
                let n = r.below(2) as usize;
                if s.is_up(n) && s.is_up(1 - n) {
                    s.command(n, "stop", None);
                }
            }
            11 => {
                let n = r.below(2) as usize;
                let svc = &names[r.below(names.len() as u64) as usize];
                let call = ["apiopen", "apiclose"][r.below(2) as usize];
                if s.is_up(n) {
                    s.command(n, &format!("{call} {svc}"), None);
                }
                s.feed(
                    n,
                    Input::LinkStats {
                        link: "lan".into(),
                        line: "rx=1 crc=0".into(),
                    },
                );
            }
            13 | 14 if disk => {
                // A node cut off from everything while it lives: disk and private link.
                let n = r.below(2) as usize;
                s.set_disk_path(n, false);
                for dir in 0..2 {
                    s.paths[0][dir].up = false;
                }
                s.trace.push(format!("{} {} ISOLATED", s.now, NAMES[n]));
            }
            12 if disk => {
                // A node's path to the shared disk fails, or comes back.
                let n = r.below(2) as usize;
                let ok = !s.disk.path_ok[n];
                s.set_disk_path(n, ok);
            }
            _ => {
                let n = r.below(2) as usize;
                let svc = &names[r.below(names.len() as u64) as usize];
                let op =
                    ["bringin", "bringout", "failover", "takeover", "bringin"][r.below(5) as usize];
                // A move while the peer left its services running (QUIT) is the
                // administrator's word that they were stopped there by hand (the log says
                // so): this administrator does not give it without having done that.
                let moves = op == "failover" || op == "takeover";
                if s.is_up(n) && !(moves && s.quit_left(1 - n)) {
                    s.command(n, &format!("service {op} {svc}"), None);
                }
                // Now and then a change of key, among the faults (decided by the clock,
                // not the seed's draws, so every seed keeps the schedule it had).
                if s.is_up(n) && s.now % 7 == 3 {
                    s.command(n, "authkey rotate", None);
                }
            }
        }
    }
    // The faults end: everything healed, nodes up, agents well, then the world settles.
    // A frozen hasvrd thaws when its time comes.
    while let Some(t) = s.thaw_at() {
        s.run(t.saturating_sub(s.now).max(1));
    }
    s.trace.push(format!("{} --- faults end ---", s.now));
    for n in 0..2 {
        for svc in &names {
            s.set_stuck(n, svc, false);
        }
        s.heal_data_paths(n);
        if s.quit_left(n) {
            s.restart(n);
        }
    }
    if s.cable_pulled {
        s.pull_cable(false);
    }
    s.paths = [[Path::default(); 2]; 2];
    s.sick.clear();
    for n in 0..2 {
        if !s.disk.path_ok[n] {
            s.set_disk_path(n, true);
        }
    }
    for n in 0..2 {
        if !s.is_up(n) {
            s.boot(n);
        }
        if s.nic_down[n] {
            s.set_nic(n, true);
        }
    }
    s.step_failures = 0;
    // A configuration conflict (both nodes changed it while one could not hear the other)
    // waits for the administrator by design: play that part as the log tells, by making
    // alpha's file beta's and reloading it there (the higher generation wins).
    s.run(3_000);
    // A QUIT still waiting for its word to reach the disk when the faults ended has left
    // by now: its SureHA is started again too.
    for n in 0..2 {
        if s.quit_left(n) {
            s.restart(n);
        }
    }
    if s.engines[0].digest != s.engines[1].digest
        && s.engines[0].generation == s.engines[1].generation
    {
        let text = s.engines[1].config_text.clone();
        s.trace.push(format!(
            "{} admin resolves a configuration conflict: alpha takes beta's file and reloads",
            s.now
        ));
        if let Ok(cfg) = config::parse("sim", &text) {
            s.text = text.clone();
            s.feed(ALPHA, Input::Reload(Ok((cfg, text))));
        }
    }
    s.run(SETTLE);
    s.check_at_rest();
    s
}

/// How long the faults last in a randomised run.
pub const CHAOS: Millis = 12_000;

/// One of the faults modelled after the first ones: hasvrd frozen, or left with QUIT and
/// started again; a service that will not stop; a volume device whose reads fail or hang;
/// the configuration locked or unlocked.
fn later_fault(s: &mut Sim, r: &mut Rng, names: &[String]) {
    let n = r.below(2) as usize;
    let svc = names[r.below(names.len() as u64) as usize].clone();
    match r.below(8) {
        0 | 1 if s.daemon_running(n) => {
            // Mostly short freezes; some outlast the link processes' repeats (30 s).
            let long = if r.chance(300) { 20_000 } else { 0 };
            let until = s.now + 100 + long + r.below(20_000);
            s.hang(n, until);
        }
        2 if s.daemon_running(n) => s.quit(n),
        2 if s.quit_left(n) => s.restart(n),
        3 => {
            let stuck = !s.is_stuck(n, &svc);
            s.set_stuck(n, &svc, stuck);
        }
        4 | 5 => {
            let devices = s.devices_of(n);
            if devices.is_empty() {
                return;
            }
            let device = devices[r.below(devices.len() as u64) as usize].clone();
            let fault = match s.data_fault_of(n, &device) {
                Some(_) => None,
                None if r.chance(500) => Some(DataFault::Fails),
                None => Some(DataFault::HangsSince(s.now)),
            };
            s.set_data_path(n, &device, fault);
        }
        6 if s.is_up(n) => s.command(n, "lock admin 2026-12-06T03:00:00", None),
        7 if s.is_up(n) => s.command(n, "unlock admin", None),
        _ => {}
    }
}
