//! Shared disks in the engine: the volume lock's lease, the data path, the fence.
use super::*;

const DISK: &str = "\n[privnet d]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/sdx\ndevice2 = /dev/sdy\ninterval = 100ms\nmaxmiss = 3\n";

fn with_disk(extra: &str) -> T {
    // The disk link before the service: `svc` appends the service section last.
    let text = svc(extra).replacen("\n[service web]", &format!("{DISK}\n[service web]"), 1);
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", Some("r"));
    // Alone with a disk link, it takes over only once a silent peer would have given
    // everything up: a lease and a beat after its silence (1.3 s here). The tests' times
    // begin a second later than they did before that wait.
    let mut acts = Vec::new();
    for ms in (0..=2000).step_by(100) {
        acts.extend(t.at(ms, renewed()));
    }
    t.run_plan(2000, acts);
    assert_eq!(t.state(), "ACTIVEACT");
    t
}

fn renewed() -> Input {
    Input::LeaseRenewed {
        link: "d".into(),
        took: 0,
    }
}

fn logged(acts: &[Action], level: Level, what: &str) -> bool {
    acts.iter()
        .any(|a| matches!(a, Action::Log { level: l, text } if *l == level && text.contains(what)))
}

#[test]
fn a_lease_renewed_on_time_keeps_the_service_and_a_lapsed_one_stops_it_before_it_runs_out() {
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    // Renewed every 100 ms: nothing happens.
    for ms in (2100..4000).step_by(100) {
        let acts = t.at(ms, renewed());
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Run { .. })),
            "{acts:?}"
        );
    }
    assert_eq!(t.state(), "ACTIVEACT");
    // Silent from 3900: a third of the lease (3 × 300 ms) later, the stop begins.
    let acts = t.at(4150, Input::Tick);
    assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
    let acts = t.at(4201, Input::Tick);
    assert!(
        logged(&acts, Level::Error, "volume locks run out"),
        "{acts:?}"
    );
    let (steps, _) = t.run_plan(4201, acts);
    assert!(steps.contains(&Step::Umount(0)), "{steps:?}");
    assert_eq!(t.e.phase_of("web"), Phase::Stopped);
    // Stopped in time: no fence, and it does not start again while the lease is lost.
    let acts = t.at(4800, Input::Tick);
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::Fence { .. } | Action::Run { .. })));
    let s = t.e.status_text();
    assert!(s.contains("LOCK d NOT-RENEWED"), "{s}");
    // Renewed again: it may run here again, once it has seen the silent peer's slot for a
    // lease and a beat (it could not see the disk before).
    let acts = t.at(5000, renewed());
    assert!(
        logged(&acts, Level::Info, "volume locks renewed"),
        "{acts:?}"
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::Run { .. })));
    let mut acts = Vec::new();
    for ms in (5100..=6000).step_by(100) {
        acts.extend(t.at(ms, renewed()));
    }
    assert!(acts.iter().any(|a| matches!(a, Action::Run { .. })));
    t.run_plan(6000, acts);
    assert_eq!(t.e.phase_of("web"), Phase::Running);
}

#[test]
fn volumes_still_on_at_five_sixths_of_the_lease_fence_the_node() {
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    // The lease lapses and the stop hangs: its first step never finishes.
    let acts = t.at(2401, Input::Tick);
    assert!(acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    assert!(!t
        .at(2800, Input::Tick)
        .iter()
        .any(|a| matches!(a, Action::Fence { .. })));
    let acts = t.at(2850, Input::Tick);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Fence { reason } if reason.contains("web"))),
        "{acts:?}"
    );
    // Once.
    assert!(!t
        .at(3500, Input::Tick)
        .iter()
        .any(|a| matches!(a, Action::Fence { .. })));
}

#[test]
fn a_failed_data_path_makes_the_service_unable_here_and_no_disk_link_is_warned_about() {
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    let mut acts = Vec::new();
    for ms in (2100..2500).step_by(100) {
        acts.extend(t.at(ms, renewed()));
    }
    let acts = t.at(
        2500,
        Input::DataPaths(vec![DataPath {
            device: "/dev/a".into(),
            ok: false,
            why: "Input/output error".into(),
        }]),
    );
    assert!(
        logged(
            &acts,
            Level::Error,
            "DISK /dev/a: data path failed (Input/output error); web cannot run here"
        ),
        "{acts:?}"
    );
    assert!(acts.iter().any(|a| matches!(a, Action::StopAgent { .. })));
    let s = t.e.status_text();
    assert!(s.contains("DISK alpha /dev/a ERR"), "{s}");
    // Without a disk link, status and the log warn that nothing but the network protects
    // the volume.
    let text = svc("volume = /dev/a /dev/b /m1\n");
    let cfg = config::parse("t", &text).unwrap();
    let mut e = Engine::new("alpha", cfg, text, None, 0);
    let acts = e.handle(0, Input::Tick);
    assert!(logged(
        &acts,
        Level::Warning,
        "volume exclusivity rests on the network links"
    ));
    assert!(e.status_text().contains("WARNING no disk link"));
}

#[test]
fn a_stuck_volume_with_fence_none_stays_in_error_without_fencing() {
    let text = format!(
        "{}\n[admin]\nfence = none\n",
        svc("volume = /dev/a /dev/b /m1\n")
    );
    let mut t = T::new(&text);
    t.cmd(0, "service bringin web", Some("r"));
    let acts = t.at(1000, Input::Tick);
    t.run_plan(1000, acts);
    let acts = t.cmd(2000, "service bringout web", Some("o"));
    let all = t.run_failing(2000, acts, |step| matches!(step, Step::Umount(_)));
    assert!(!all.iter().any(|a| matches!(a, Action::Fence { .. })));
    assert!(logged(&all, Level::Error, "fence = none"));
    assert_eq!(t.state(), "ERRORACT");
}

#[test]
fn a_quit_holding_volumes_leaves_once_its_word_is_on_the_disk_or_is_refused_a_third_of_a_lease_later(
) {
    let quit = Input::Shutdown {
        touch_resources: false,
    };
    // The next renewal after the QUIT carries the word that the volumes stay: then it goes.
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    let acts = t.at(2101, quit.clone());
    assert!(
        !acts.contains(&Action::Exit),
        "waits for its word to reach the disk"
    );
    let acts = t.at(2200, renewed());
    assert!(acts.contains(&Action::Exit), "{acts:?}");
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Run { .. })),
        "the volumes stay"
    );
    // The disk out of reach while the peer hears this node: refused a third of the lease
    // (300 ms) after the QUIT, not before.
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    t.at(2150, quit.clone());
    for ms in (2200..=2400).step_by(100) {
        t.at(ms, peer_beat(ms, 0));
    }
    let acts = t.at(2449, Input::Tick);
    assert!(!logged(&acts, Level::Error, "QUIT refused"), "{acts:?}");
    assert!(!acts.contains(&Action::Exit));
    let acts = t.at(2450, Input::Tick);
    assert!(logged(&acts, Level::Error, "QUIT refused"), "{acts:?}");
    assert!(!acts.contains(&Action::Exit) && !t.e.leaves_resources_untouched());
    // Found by the simulator (seed 15039304): cut off from the peer and the disk, the
    // services must be given up before the peer takes them over, so the QUIT that would
    // keep them is refused as soon as this node knows, not a third of a lease later.
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    t.at(2350, quit);
    let acts = t.at(2400, Input::Tick);
    assert!(!logged(&acts, Level::Error, "QUIT refused"), "{acts:?}");
    let acts = t.at(2401, Input::Tick);
    assert!(logged(&acts, Level::Error, "QUIT refused"), "{acts:?}");
    assert!(!acts.contains(&Action::Exit) && !t.e.leaves_resources_untouched());
}

#[test]
fn what_hasvrd_tells_hamond_of_its_volumes_is_what_it_holds() {
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    assert!(t.e.holds_volumes());
    assert_eq!(t.e.lease_renewed_at(), Some(2100));
    let acts = t.cmd(2200, "service bringout web", None);
    t.run_plan(2200, acts);
    assert!(!t.e.holds_volumes(), "stopped: nothing mounted here");
    // Without a disk link there is no lock to speak of.
    let t = running("");
    assert!(!t.e.holds_volumes());
    assert_eq!(t.e.lease_renewed_at(), None);
}

#[test]
fn a_service_without_volumes_puts_the_lease_at_stake_once_the_beat_misses_the_disk() {
    // No volumes: nothing for the lock, but the peer takes the service over once this
    // node's lease runs out, so a frozen hasvrd must be fenced for it then.
    let mut t = with_disk("");
    t.at(2100, renewed());
    assert!(!t.e.holds_volumes());
    assert!(!t.e.lease_at_stake(), "on the disk: the lease is renewed");
    // A third of the lease (300 ms) without a renewal: the lease is lost, and the node,
    // cut off (its peer is silent), begins to give the service up.
    let acts = t.at(2401, Input::Tick);
    assert!(
        t.e.lease_at_stake(),
        "not stopped, and the beat misses the disk"
    );
    t.run_plan(2401, acts);
    assert_eq!(t.e.phase_of("web"), Phase::Stopped);
    assert!(
        !t.e.lease_at_stake(),
        "stopped: nothing for the peer to take"
    );
    // With volumes the lock is at stake whether the beat reaches the disk or not.
    let mut t = with_disk("volume = /dev/a /dev/b /m1\n");
    t.at(2100, renewed());
    assert!(t.e.lease_at_stake());
}

/// Cut off from the peer and the disk, a node counts its isolation from when the peer may
/// have found it silent at the earliest: a third of a lease after its last renewal (300 ms
/// here), or the peer's last word that it heard us, whichever is later; it fences itself
/// five sixths of a lease (750 ms) after that if it still runs a service.
#[test]
fn isolation_counts_from_the_earliest_moment_the_peer_may_have_found_us_silent() {
    let mut t = with_disk("");
    t.at(2100, renewed());
    for ms in (2100..=2200).step_by(50) {
        t.at(ms, peer_beat(ms, 0));
    }
    // No renewal, no frame from now on; its stop never ends (a hung stop script).
    let mut fenced_at = None;
    for ms in (2201..=3300).step_by(1) {
        let acts = t.at(ms, Input::Tick);
        if fenced_at.is_none() && acts.iter().any(|a| matches!(a, Action::Fence { .. })) {
            fenced_at = Some(ms);
        }
    }
    // max(2100 + 300, 2200) + 750
    assert_eq!(fenced_at, Some(3150));
}
