//! Shared disks (DESIGN §10, issue "Shared disks that are never mounted twice"): the disk
//! link, the volume lock, the data path, stop escalation and the fence, with each node in
//! its own network and mount namespace and real loop devices (see `disk_rig`). Needs root,
//! losetup, mkfs.ext4 and bindfs; CI installs them.

use crate::disk_rig::*;
use crate::harness::*;
use std::time::{Duration, Instant};

fn status(n: &Node) -> String {
    n.haadm(&["status"]).stdout
}

fn running_on(c: &DiskCluster, node: &str) -> bool {
    matches!(
        c.node(node).state("db").as_str(),
        "ACTIVE" | "ACTIVESTB" | "ACTIVEACT"
    )
}

fn protected_on_alpha(c: &DiskCluster) {
    c.start_all();
    c.alpha.ok(&["service", "bringin", "db"]);
    c.wait_words("db", "ACTIVE", "STANDBY", Duration::from_secs(20));
    assert_eq!(c.mounted(), (true, false), "the volume is on alpha only");
}

/// Test 1: every network link cut, both alive: the disk link keeps them in contact and
/// nothing moves; the volume lock refuses a mount by hand on the other node.
#[test]
fn the_disk_link_keeps_the_pair_together_when_every_network_link_is_cut() {
    let c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    protected_on_alpha(&c);
    let s = status(&c.alpha);
    assert!(s.contains("LOCK dlink RENEWED"), "{s}");
    assert!(!s.contains("WARNING no disk link"), "{s}");
    // By hand, beta cannot mount what alpha holds, and is told by whom.
    let mp = c.rig.mount_point.clone();
    let by_hand = c.beta.run("havol", &["mount", &c.rig.data_b.dev, &mp]);
    assert_eq!(by_hand.code, 1, "{by_hand:?}");
    assert!(by_hand.stderr.contains("locked by alpha"), "{by_hand:?}");
    assert_eq!(c.mounted(), (true, false));

    let watch = MountWatch::start(&c);
    c.topo.set_link("alpha", "priv0", false);
    for n in [&c.alpha, &c.beta] {
        n.wait_for(
            "the socket link to go down",
            Duration::from_secs(10),
            || {
                let s = status(n);
                s.contains("LINK priv socket ERR") && s.contains("LINK dlink disk OK")
            },
        );
    }
    // Held for a while: the peer is up through the disk, and nothing moves.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let s = status(&c.beta);
        assert!(
            s.contains("NODE alpha UP") && s.contains("CLUSTER DISK-ONLY"),
            "{s}"
        );
        assert_eq!(c.words("db"), ("ACTIVE".into(), "STANDBY".into()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        c.beta
            .log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("only through disk link dlink")),
        "contact through the disk only is an ERROR in the log"
    );
    // The disk link carries a configuration change too.
    c.alpha.ok(&[
        "service",
        "create",
        "extra",
        "active_server=alpha",
        "standby_server=beta",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    c.beta
        .wait_for("the new service on beta", Duration::from_secs(10), || {
            c.beta.haadm(&["service", "state", "extra"]).code == 0
        });
    c.topo.set_link("alpha", "priv0", true);
    c.alpha
        .wait_for("the socket link back", Duration::from_secs(10), || {
            status(&c.alpha).contains("LINK priv socket OK")
        });
    assert_eq!(c.words("db"), ("ACTIVE".into(), "STANDBY".into()));
    let (samples, both) = watch.finish();
    assert!(samples > 100, "{samples} samples");
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    assert_eq!(c.mounted(), (true, false));
}

/// Test 2: the active node loses the disk and every network link while it lives. It stops
/// the service before its lease runs out; the standby mounts only after that.
#[test]
fn a_fully_isolated_active_node_lets_go_before_the_standby_mounts() {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    protected_on_alpha(&c);
    let watch = MountWatch::start(&c);
    let cut = Instant::now();
    c.topo.set_link("alpha", "priv0", false);
    c.rig_mut().lease_fuse.kill();
    c.beta.wait_for(
        "beta to take the service over",
        Duration::from_secs(30),
        || running_on(&c, "beta") && c.mounted().1,
    );
    let took = cut.elapsed();
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    assert!(!c.mounted().0, "alpha let go of the volume");
    // The lease is 3 × (200ms × 3): beta waited for it.
    assert!(
        took >= Duration::from_millis(1800),
        "beta mounted after {took:?}"
    );
    let alpha_log = c.alpha.log();
    assert!(
        alpha_log.contains("volume locks run out") && alpha_log.contains("stopping db here"),
        "{alpha_log}"
    );
    let beta_log = c.beta.log();
    assert!(
        beta_log.contains("ran out"),
        "beta says it waited for the lease"
    );
    // What the disk link already waited counts: the takeover waits the lease, not the
    // link's detection and then the lease.
    assert!(beta_log.contains("has stood still for"), "{beta_log}");
    assert!(!running_on(&c, "alpha"));
}

/// Found by the chaos run (seed 2): the active node's path to the disk link's device hangs
/// while every network link stays up. It cannot renew its volume lock, so it stops the
/// service in time; the unmount is done at once, and the lock's release, which would hang
/// on the device, must not hold up the stop: the node hands the service over and is not
/// fenced. When the device answers again, the node stands by.
#[test]
fn a_hanging_lease_device_moves_the_service_without_fencing_the_node() {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    protected_on_alpha(&c);
    let watch = MountWatch::start(&c);
    c.rig_mut().lease_fuse.stop();
    c.beta.wait_for(
        "beta to take the service over",
        Duration::from_secs(30),
        || running_on(&c, "beta") && c.mounted().1,
    );
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    let fenced = std::fs::read_to_string(c.alpha.path("tmp/fenced")).unwrap_or_default();
    assert!(
        fenced.is_empty(),
        "alpha was fenced: {fenced}\n{}",
        c.alpha.log()
    );
    assert!(
        c.alpha
            .log()
            .contains("the volume is off, and its lock is released when the device answers"),
        "{}",
        c.alpha.log()
    );
    c.rig_mut().lease_fuse.resume();
    c.alpha
        .wait_for("alpha to stand by", Duration::from_secs(20), || {
            c.alpha.state("db") == "STANDBY"
        });
    assert_eq!(c.mounted(), (false, true));
}

/// Issue "Random faults on the real programs": alpha is cut off from everything while it
/// lives (every network link, the public network between the nodes, and its path to the
/// lease device). A service without volumes has no lock to wait for, yet the disk link
/// must break the tie: alpha gives it up, beta takes it over only a lease and a beat after
/// alpha fell silent, and the floating address is never on both nodes.
#[test]
fn a_node_cut_off_from_everything_gives_up_services_without_volumes_first() {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    let config = format!(
        "{}\n[service ip]\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\nstart = svc.start\nstop = svc.stop\ncheck_interval = 1s\nstart_timeout = 3s\n",
        c.rig.config("200ms", "start_timeout = 3s\n")
    );
    for n in [&c.alpha, &c.beta] {
        n.write_config(&config);
    }
    c.start_all();
    c.alpha.ok(&["service", "bringin", "ip"]);
    c.wait_words("ip", "ACTIVE", "STANDBY", Duration::from_secs(20));
    let cut = Instant::now();
    c.topo.set_link("alpha", "priv0", false);
    c.topo.isolate_nodes(true);
    c.rig_mut().lease_fuse.stop();
    // Looks alternate alpha, beta, alpha: an address seen on beta between two looks that
    // found it on alpha was on both.
    let mut looks = vec![c.topo.has_vip("alpha")];
    let mut both = 0;
    let mut took = None;
    while cut.elapsed() < Duration::from_secs(20) && took.is_none() {
        let b = c.topo.has_vip("beta");
        let a = c.topo.has_vip("alpha");
        if b && looks.last() == Some(&true) && a {
            both += 1;
        }
        looks.push(a);
        if b && !a {
            took = Some(cut.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    c.rig_mut().lease_fuse.resume();
    let took = took.unwrap_or_else(|| panic!("beta never held the address\n{}", c.beta.log()));
    assert_eq!(both, 0, "the address was on both nodes");
    assert!(
        c.alpha
            .log()
            .contains("beta hears this node by no path, the disk included"),
        "{}",
        c.alpha.log()
    );
    let fenced = std::fs::read_to_string(c.alpha.path("tmp/fenced")).unwrap_or_default();
    assert!(
        fenced.is_empty(),
        "alpha gave up in time, unfenced: {fenced}"
    );
    // Silence limit 600 ms, then a lease (1.8 s) and a beat (200 ms).
    assert!(
        took >= Duration::from_millis(2400),
        "beta took over after {took:?}"
    );
    c.topo.isolate_nodes(false);
    c.topo.set_link("alpha", "priv0", true);
    c.alpha
        .wait_for("alpha to stand by", Duration::from_secs(20), || {
            c.alpha.state("ip") == "STANDBY"
        });
}

/// Cut off from everything, alpha begins to give up a service without volumes, its stop
/// script hangs, and its hasvrd freezes `freeze` after the cut. Returns how often the
/// address was seen on both nodes, what alpha's fence said, and when beta held it.
fn frozen_while_giving_up(freeze: Duration) -> (usize, String, Duration) {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    let config = format!(
        "{}\n[service ip]\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\nstart = svc.start\nstop = hang.stop\ncheck_interval = 1s\nstart_timeout = 20s\n",
        c.rig.config("200ms", "start_timeout = 3s\n")
    );
    for n in [&c.alpha, &c.beta] {
        n.write_config(&config);
        n.write_script("hang.stop", "#!/bin/sh\nsleep 30\n");
    }
    c.start_all();
    c.alpha.ok(&["service", "bringin", "ip"]);
    c.wait_words("ip", "ACTIVE", "STANDBY", Duration::from_secs(20));
    let hasvrd = c.alpha.pid("hasvrd").expect("alpha's hasvrd");
    let cut = Instant::now();
    c.topo.set_link("alpha", "priv0", false);
    c.topo.isolate_nodes(true);
    c.rig_mut().lease_fuse.stop();
    c.alpha
        .wait_for("alpha to give ip up", Duration::from_secs(10), || {
            c.alpha
                .log()
                .contains("beta hears this node by no path, the disk included")
        });
    std::thread::sleep(freeze.saturating_sub(cut.elapsed()));
    let _ = sureha::sys::kill(hasvrd, libc::SIGSTOP);
    // Looks alternate alpha, beta, alpha, as in the test above.
    let mut looks = vec![c.topo.has_vip("alpha")];
    let mut both = 0;
    let mut took = None;
    while cut.elapsed() < Duration::from_secs(20) && took.is_none() {
        let b = c.topo.has_vip("beta");
        let a = c.topo.has_vip("alpha");
        if b && looks.last() == Some(&true) && a {
            both += 1;
        }
        looks.push(a);
        if b && !a {
            took = Some(cut.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = sureha::sys::kill(hasvrd, libc::SIGCONT);
    c.rig_mut().lease_fuse.resume();
    c.topo.isolate_nodes(false);
    c.topo.set_link("alpha", "priv0", true);
    let took = took.unwrap_or_else(|| panic!("beta never held the address\n{}", c.beta.log()));
    let fenced = std::fs::read_to_string(c.alpha.path("tmp/fenced")).unwrap_or_default();
    eprintln!("frozen {freeze:?} after the cut: beta took the address over {took:?} after it; alpha: {fenced}");
    if both > 0 || fenced.is_empty() {
        eprintln!("{}", c.alpha.log());
    }
    (both, fenced, took)
}

/// From the simulator (seed 120930191): alpha's hasvrd freezes shortly before the moment
/// it would have fenced the node (2.1 s after the cut: a third of the lease, then five
/// sixths of it). hamond fences it then, for the lease is at stake (the beat misses the
/// disk, a service is not stopped). Before, it fenced only for volumes, and replaced the
/// frozen hasvrd 0.9 s after the freeze, when beta (2.6 s after the cut) may already run
/// the service.
#[test]
fn a_frozen_hasvrd_cut_off_with_a_service_without_volumes_is_fenced_by_hamond() {
    let (both, fenced, _) = frozen_while_giving_up(Duration::from_millis(1700));
    assert_eq!(both, 0, "the address was on both nodes");
    assert!(
        fenced.contains("answers nothing while volumes may be mounted here, or services run while its beat misses the disk"),
        "hamond fenced alpha for its frozen hasvrd: {fenced:?}"
    );
}

/// The same freeze as soon as alpha gives the service up: hamond replaces the frozen
/// hasvrd before any fence is due, and the new one, which counts the lease from its
/// predecessor's last renewal, fences the node in time. Before, its clock began at its
/// own start, so the renewal 1.5 s earlier landed on that start: a fresh lease, and a
/// fence 0.9 s after beta had taken the service over.
#[test]
fn a_hasvrd_that_replaces_a_frozen_one_cut_off_fences_on_the_old_lease() {
    let (both, fenced, took) = frozen_while_giving_up(Duration::ZERO);
    assert_eq!(both, 0, "the address was on both nodes");
    assert!(
        fenced.contains("could not be given up in time"),
        "the new hasvrd fenced alpha: {fenced:?}"
    );
    // Silence limit 600 ms, then a lease (1.8 s) and a beat (200 ms).
    assert!(
        took >= Duration::from_millis(2400),
        "beta took over after {took:?}"
    );
}

/// Test 3: the active node's data path fails (EIO): the service moves to the peer, whose
/// path is good; status says which path failed. Repaired, the path is OK again; without
/// switchback the service stays, and a planned move takes it back.
#[test]
fn a_failed_data_path_moves_the_service_to_the_peer() {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    protected_on_alpha(&c);
    let watch = MountWatch::start(&c);
    c.rig_mut().data_fuse.kill();
    let dev = c.rig.data_a_name.display().to_string();
    c.alpha
        .wait_for("DISK ERR in status", Duration::from_secs(10), || {
            status(&c.alpha).contains(&format!("DISK alpha {dev} ERR"))
        });
    c.beta
        .wait_for("beta to run the service", Duration::from_secs(30), || {
            running_on(&c, "beta") && c.mounted().1
        });
    let s = status(&c.beta);
    assert!(s.contains(&format!("DISK alpha {dev} ERR")), "{s}");
    assert!(
        s.contains(&format!("DISK beta {} OK", c.rig.data_b.dev)),
        "{s}"
    );
    assert!(!c.mounted().0);
    // The path is repaired: OK again, and the service stays where it is (no switchback).
    c.rig_mut().repair_data_a();
    c.beta
        .wait_for("DISK OK again", Duration::from_secs(10), || {
            status(&c.beta).contains(&format!("DISK alpha {dev} OK"))
        });
    std::thread::sleep(Duration::from_secs(1));
    assert!(running_on(&c, "beta") && c.mounted() == (false, true));
    assert_eq!(c.alpha.state("db"), "STANDBY");
    c.beta.ok(&["service", "failover", "db"]);
    c.alpha
        .wait_for("alpha to run it again", Duration::from_secs(30), || {
            running_on(&c, "alpha") && c.mounted() == (true, false)
        });
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
}

/// Test 3, hung: the data path hangs (the FUSE process stopped). The loop keeps beating, the
/// service leaves alpha (its unmount hangs, so alpha fences itself) and runs on beta, never
/// mounted on both.
#[test]
fn a_hung_data_path_moves_the_service_and_the_loop_keeps_beating() {
    let mut c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    protected_on_alpha(&c);
    let watch = MountWatch::start(&c);
    c.rig_mut().data_fuse.stop();
    let dev = c.rig.data_a_name.display().to_string();
    let hung = Instant::now();
    c.alpha
        .wait_for("DISK ERR in status", Duration::from_secs(10), || {
            status(&c.alpha).contains(&format!("DISK alpha {dev} ERR"))
        });
    // hasvrd answers throughout, and beta keeps hearing alpha until alpha fences itself.
    let mut answered = 0;
    while c.alpha.pid("hasvrd").is_some() && hung.elapsed() < Duration::from_secs(60) {
        let r = c.alpha.haadm(&["status"]);
        if r.code == 0 {
            answered += 1;
            assert!(
                status(&c.beta).contains("NODE alpha UP") || !c.alpha.path("tmp/fenced").exists(),
            );
        }
        if c.alpha.path("tmp/fenced").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        answered > 5,
        "hasvrd answered {answered} times while the disk hung"
    );
    c.beta
        .wait_for("beta to run the service", Duration::from_secs(60), || {
            running_on(&c, "beta") && c.mounted().1
        });
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    let fenced = std::fs::read_to_string(c.alpha.path("tmp/fenced")).unwrap_or_default();
    assert!(fenced.contains("db"), "alpha fenced itself: {fenced:?}");
}

/// Test 4: a stop script that hangs while a process keeps the volume busy: the stop is tried
/// twice, the process holding the mount is killed, the volume comes off, and the service
/// runs on the peer.
#[test]
fn a_hanging_stop_with_a_busy_volume_is_escalated_until_the_volume_is_free() {
    let c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    let mp = c.rig.mount_point.clone();
    // A service daemon that keeps its working directory on the volume, and a stop script
    // that hangs.
    c.alpha.write_script(
        "db.start-hook",
        &format!("#!/bin/sh\ncd {mp} && setsid sleep 600 < /dev/null > /dev/null 2>&1 &\nexit 0\n"),
    );
    c.alpha
        .write_script("db.stop-hook", "#!/bin/sh\nexec sleep 600\n");
    protected_on_alpha(&c);
    let watch = MountWatch::start(&c);
    c.alpha.ok(&["service", "failover", "db"]);
    c.beta
        .wait_for("beta to run the service", Duration::from_secs(60), || {
            running_on(&c, "beta") && c.mounted().1
        });
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    assert!(!c.mounted().0);
    let log = c.alpha.log();
    assert!(log.contains("trying it once more"), "{log}");
    assert!(log.contains("stopped the processes holding it"), "{log}");
}

/// havol checks what it is given before it touches anything.
#[test]
fn havol_refuses_what_is_not_a_volume_or_not_a_mount_point() {
    let rig = DiskRig::new();
    let n = Node::new("alpha", "");
    // No configuration: volumes by hand, outside any cluster.
    std::fs::remove_file(n.path("etc/sureha.conf")).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["mount", "/etc/hostname", "/proc"], "mounted there"),
        (
            &["mount", &rig.data_b.dev, "/etc/hostname"],
            "not a directory",
        ),
        (&["mount", "/dev/null", "/tmp"], "character device"),
        (&["mount", "/proc/version", "/tmp"], "proc"),
        (&["mount", "/nonexistent", "/tmp"], "No such file"),
    ];
    for (args, says) in cases {
        let r = n.run("havol", args);
        assert_eq!(r.code, 1, "havol {args:?}: {r:?}");
        assert!(r.stderr.contains(says), "havol {args:?}: {r:?}");
    }
    // A device mounted elsewhere is not mounted again.
    let mp1 = format!("{}-1", rig.mount_point);
    let mp2 = format!("{}-2", rig.mount_point);
    let r = n.run("havol", &["mount", &rig.data_b.dev, &mp1]);
    assert_eq!(r.code, 0, "{r:?}");
    let again = n.run("havol", &["mount", &rig.data_b.dev, &mp2]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already mounted on"), "{again:?}");
    assert_eq!(n.run("havol", &["umount", &rig.data_b.dev, &mp1]).code, 0);
    let _ = std::fs::remove_dir(&mp1);
    // A disk link's device too small, or already in use, is refused by init.
    let small = rig.data_fuse.src.join("small.img");
    std::fs::write(&small, vec![0u8; 64 * 1024]).unwrap();
    let r = n.run("havol", &["init", small.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("too small"), "{r:?}");
}

/// Found by the chaos runs (seed 8008, and 290147626 in CI): hamond stood still (stopped)
/// when hasvrd was killed. Nothing spoke for the node: the peer took over what ran there
/// (services without volumes ran twice), took the volume locks once the lease ran out and
/// mounted the volume this node still had mounted. The orphaned hahb-disk now repeats
/// hasvrd's last beat on the disk (renewing the locks) until hamond's next hasvrd is here.
#[test]
fn a_node_whose_hamond_stands_still_when_hasvrd_dies_keeps_its_volume_locks() {
    let c = DiskCluster::new("200ms", "start_timeout = 3s\n");
    c.start_all();
    c.alpha.ok(&["service", "bringin", "db"]);
    c.wait_words("db", "ACTIVE", "STANDBY", Duration::from_secs(20));
    assert_eq!(c.mounted(), (true, false));
    let hamond = c.alpha.pid("hamond").expect("alpha's hamond");
    let hasvrd = c.alpha.pid("hasvrd").expect("alpha's hasvrd");
    let _ = sureha::sys::kill(hamond, libc::SIGSTOP);
    let _ = sureha::sys::kill(hasvrd, libc::SIGKILL);
    // Well past the lease (1.8 s) and beta's wait before it takes a silent peer's services.
    std::thread::sleep(Duration::from_secs(6));
    let during = c.mounted();
    let _ = sureha::sys::kill(hamond, libc::SIGCONT);
    assert_eq!(
        during,
        (true, false),
        "mounted on (alpha, beta) while hamond stood still"
    );
    c.alpha
        .wait_for("a new hasvrd adopting db", Duration::from_secs(20), || {
            c.alpha
                .log()
                .contains("adopting what the previous hasvrd ran")
        });
    // beta heard alpha on the disk link all along: it never tried to take db over, and
    // db runs on alpha alone.
    c.wait_words("db", "ACTIVE", "STANDBY", Duration::from_secs(20));
    assert_eq!(c.mounted(), (true, false));
    assert!(c
        .alpha
        .log()
        .contains("hasvrd died; repeating its last beat"));
    // The new hasvrd counts the lease from the orphan's last write, not from what hamond
    // heard before it stood still (6 s ago: it would fence the node at once).
    assert!(
        c.alpha
            .log()
            .contains("the previous hasvrd's orphaned hahb-disk last renewed the volume locks"),
        "{}",
        c.alpha.log()
    );
    assert!(!c.alpha.path("tmp/fenced").exists(), "alpha was fenced");
    assert!(
        !c.beta.log().contains("service db: starting here"),
        "{}",
        c.beta.log()
    );
}
