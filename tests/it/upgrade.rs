//! A pair with one node on an earlier release (an upgrade one node at a time): services move
//! both ways, and once both nodes run this release they speak its protocol version.
//! - The release before encryption (protocol version 1): the links stay signed in clear,
//!   with a WARNING and `encrypted=no` on the upgraded node, until both are upgraded.
//! - The release before short repeats (version 2): encrypted all along, repeats of the beat
//!   whole until both are upgraded.
//!
//! A configuration change made on either node reaches the other, and an upgrade in place
//! (QUIT, new programs, start) moves nothing.
//!
//! Needs those releases' programs: `make upgrade-check` builds them from git (worktrees) and
//! runs these tests with SUREHA_OLD_BIN (version 1) and SUREHA_OLD2_BIN (version 2) set to
//! their directories.

use crate::harness::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Points a node's programs at those in `dir` (the release before, or this build's).
fn programs_from(n: &Node, dir: Option<&Path>) {
    for (prog, path) in PROGRAMS.iter().chain(
        API_TOOLS
            .iter()
            .map(|t| (*t, env!("CARGO_BIN_EXE_haapi")))
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let link = n.path(&format!("bin/{prog}"));
        let target = match dir {
            Some(d) => d.join(Path::new(path).file_name().unwrap()),
            None => Path::new(path).to_path_buf(),
        };
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
    }
}

fn encrypted(n: &Node) -> String {
    n.ok(&["status"])
        .lines()
        .find(|l| l.starts_with("LINK priv "))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("encrypted="))
        })
        .unwrap_or("")
        .to_string()
}

/// The directory of an earlier release's programs, named by `var`.
fn release(var: &str) -> std::path::PathBuf {
    let dir = std::env::var(var)
        .unwrap_or_else(|_| panic!("{var}: an earlier release's programs (make upgrade-check)"));
    let dir = std::path::PathBuf::from(dir);
    assert!(
        dir.join("hasvrd").exists(),
        "no hasvrd in {}",
        dir.display()
    );
    dir
}

#[test]
#[ignore]
fn a_pair_across_an_upgrade_moves_services_and_encrypts_once_both_are_upgraded() {
    let old = release("SUREHA_OLD_BIN");
    let old = old.as_path();
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    programs_from(&c.alpha, Some(old));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c.beta.wait_for("beta's warning", T, || {
        c.beta
            .log()
            .contains("unencrypted until both nodes are upgraded")
    });
    assert_eq!(encrypted(&c.beta), "no", "{}", c.beta.ok(&["status"]));
    // Services move both ways between the releases, and configuration changes cross.
    move_both_ways(&c);
    changes_reach_both(&c);
    // alpha upgraded in place, web running there: nothing moves.
    upgrade_in_place(&c);
    c.beta.wait_for("encrypted again", T, || {
        encrypted(&c.beta) == "yes" && c.beta.log().contains("frames are encrypted again")
    });
    c.alpha
        .wait_for("alpha encrypts", T, || encrypted(&c.alpha) == "yes");
    assert!(!c.alpha.log().contains("unencrypted until"));
    c.alpha.ok(&["service", "takeover", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    for n in [&c.alpha, &c.beta] {
        for l in n.log().lines().filter(|l| {
            l.contains("protocol version") || l.contains("malformed=") && l.contains("dropped")
        }) {
            eprintln!("{l}");
        }
    }
}

#[test]
#[ignore]
fn a_pair_with_the_release_before_short_repeats_stays_encrypted_and_meets_at_version_3() {
    let old = release("SUREHA_OLD2_BIN");
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    programs_from(&c.alpha, Some(&old));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    c.beta.wait_for("beta sees version 2", T, || {
        c.beta.log().contains("repeats of the beat go whole")
    });
    assert_eq!(encrypted(&c.beta), "yes", "{}", c.beta.ok(&["status"]));
    assert_eq!(encrypted(&c.alpha), "yes", "{}", c.alpha.ok(&["status"]));
    // Services move both ways between the releases, and stay put at rest.
    move_both_ways(&c);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    for n in [&c.alpha, &c.beta] {
        assert!(
            !n.log().contains("peer alpha is down") && !n.log().contains("peer beta is down"),
            "{}",
            n.log()
        );
    }
    changes_reach_both(&c);
    // alpha upgraded: the two meet at version 3.
    upgrade_alpha(&c);
    c.beta.wait_for("version 3 again", T, || {
        c.beta.log().contains("repeats of the beat go short")
    });
    c.alpha.wait_for("alpha hears beta", T, || {
        c.alpha.ok(&["privnet", "state", "priv"]).trim() == "OK"
    });
    c.alpha.ok(&["service", "takeover", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    assert!(!c.alpha.log().contains("repeats of the beat go whole"));
}

/// web taken over by beta, then back by alpha.
fn move_both_ways(c: &NsCluster) {
    c.beta.ok(&["service", "takeover", "web"]);
    c.wait_words("web", "STANDBY", "ACTIVE", T);
    c.alpha.ok(&["service", "takeover", "web"]);
    c.wait_words("web", "ACTIVE", "STANDBY", T);
}

/// A service created on each node (one of each release) reaches the other.
fn changes_reach_both(c: &NsCluster) {
    for (maker, name) in [(&c.beta, "made-on-beta"), (&c.alpha, "made-on-alpha")] {
        maker.ok(&[
            "service",
            "create",
            name,
            "active_server=alpha",
            "standby_server=beta",
            "start=svc.start",
            "stop=svc.stop",
        ]);
        for n in [&c.alpha, &c.beta] {
            n.wait_for(&format!("{name} on {}", n.name), T, || {
                n.haadm(&["service", "state", name]).code == 0
            });
        }
    }
}

/// alpha, running web, upgraded as the README says: QUIT (its services keep running), the
/// programs replaced, started again; the new hasvrd adopts web, and nothing moves.
fn upgrade_in_place(c: &NsCluster) {
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    let events = (c.alpha.events(), c.beta.events());
    let _ = sureha::sys::kill(c.alpha.pid("hamond").unwrap(), libc::SIGQUIT);
    // The pid files stay after QUIT (agents wait for the next hasvrd): look at processes.
    c.alpha.wait_for("alpha's SureHA gone", T, || {
        c.alpha.processes().iter().all(|&p| {
            let cmd = Node::cmdline(p);
            !["hamond", "hasvrd", "hahb-"]
                .iter()
                .any(|d| cmd.contains(d))
        })
    });
    c.beta
        .wait_for("beta sees alpha left its services running", T, || {
            c.beta.ok(&["status"]).contains("CLUSTER FROZEN")
        });
    programs_from(&c.alpha, None);
    c.alpha.start();
    c.wait_words("web", "ACTIVE", "STANDBY", T);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.words("web"), ("ACTIVE".into(), "STANDBY".into()));
    assert_eq!(
        (c.alpha.events(), c.beta.events()),
        events,
        "no start or stop anywhere"
    );
    assert!(
        !c.beta.log().contains("peer alpha is down"),
        "{}",
        c.beta.log()
    );
}

/// alpha upgraded: stopped (its service moves over), its programs replaced, started.
fn upgrade_alpha(c: &NsCluster) {
    c.alpha.ok(&["stop"]);
    c.alpha
        .wait_for("alpha's SureHA gone", T, || c.alpha.pid("hamond").is_none());
    c.beta.wait_for("web on beta", T, || {
        c.beta.state("web").starts_with("ACTIVE")
    });
    programs_from(&c.alpha, None);
    c.alpha.start();
}
