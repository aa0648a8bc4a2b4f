//! The configuration lock and the license lines (DESIGN §9): what the lock refuses, which
//! stored state wins, and the license warnings as the days pass.
use super::*;

fn parse(words: &str) -> Command {
    let w: Vec<String> = words.split(' ').map(str::to_string).collect();
    crate::request::parse_command(&w).unwrap()
}

fn replies(acts: &[Action]) -> Vec<&Reply> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Reply { reply, .. } => Some(reply),
            _ => None,
        })
        .collect()
}

fn warnings(acts: &[Action]) -> Vec<&str> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Log {
                level: Level::Warning,
                text,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_lock_refuses_what_changes_and_lets_reads_agents_and_unlock_through() {
    let mut t = T::new(&svc(""));
    t.at(0, Input::Tick);
    let changes = [
        "service bringout web",
        "service bringin web",
        "service takeover web",
        "service failover web",
        "service remove web",
        "license alpha SN1 2027-01-01 K1",
        "lock other 2026-12-07T00:00:00",
    ];
    let reads = [
        "status",
        "license",
        "why web",
        "service state web",
        "apiok web",
        "unlock admin",
    ];
    for w in changes.iter().chain(reads.iter()) {
        assert_eq!(t.e.admin.locked_against(&parse(w)), None, "unlocked: {w}");
    }
    let acts = t.cmd(10, "lock admin 2026-12-06T03:00:00", Some("r1"));
    // Stored and sent under a new stamp, so the peer takes it.
    let stored = |acts: &[Action]| {
        acts.iter().find_map(|a| match a {
            Action::WriteAdmin(text) => Some(text.clone()),
            _ => None,
        })
    };
    assert_eq!(
        stored(&acts).as_deref(),
        Some("stamp 1 alpha\nlock admin 2026-12-06T03:00:00\n")
    );
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Send { link: None, .. })));
    assert!(replies(&acts).iter().all(|r| r.status == Status::Ok));
    for w in changes {
        let why = t.e.admin.locked_against(&parse(w));
        assert_eq!(
            why.as_deref(),
            Some("locked by admin since 2026-12-06T03:00:00; haadm unlock first"),
            "{w}"
        );
    }
    for w in reads {
        assert_eq!(t.e.admin.locked_against(&parse(w)), None, "locked: {w}");
    }
    // Refused through the FIFO too, and nothing moves.
    let acts = t.cmd(20, "service bringin web", Some("r2"));
    let r = replies(&acts);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].status,
        Status::Err("locked by admin since 2026-12-06T03:00:00; haadm unlock first".into())
    );
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::Run { .. } | Action::StopAgent { .. })));
    assert!(!t.e.protected("web"), "not brought in");
    let acts = t.cmd(30, "unlock admin", Some("r3"));
    assert_eq!(stored(&acts).as_deref(), Some("stamp 2 alpha\n"));
    assert_eq!(
        t.e.admin.locked_against(&parse("service bringout web")),
        None
    );
}

#[test]
fn the_newest_stored_state_wins_and_an_equal_one_changes_nothing() {
    let mut t = T::new(&svc(""));
    let bringout = parse("service bringout web");
    t.at(
        0,
        Input::AdminLoaded("stamp 5 beta\nlock ops 2026-01-01T00:00:00\n".into()),
    );
    assert!(
        t.e.admin.locked_against(&bringout).is_some(),
        "newer than nothing: taken"
    );
    t.at(10, Input::AdminLoaded("stamp 4 beta\n".into()));
    assert!(
        t.e.admin.locked_against(&bringout).is_some(),
        "older: ignored"
    );
    t.at(20, Input::AdminLoaded("stamp 5 beta\n".into()));
    assert!(
        t.e.admin.locked_against(&bringout).is_some(),
        "the same rank: kept"
    );
    t.at(30, Input::AdminLoaded("stamp 5 gamma\n".into()));
    assert_eq!(
        t.e.admin.locked_against(&bringout),
        None,
        "same stamp, later node: taken"
    );
    let acts = t.at(40, Input::AdminLoaded("stamp 1 alpha\nbad line\n".into()));
    assert!(warnings(&acts).iter().any(|w| w.contains("does not parse")));
}

#[test]
fn a_license_is_warned_about_when_it_expires_and_once() {
    let mut t = T::new(&svc(""));
    let acts = t.at(
        0,
        Input::AdminLoaded(
            "stamp 1 alpha\nlicense alpha SN1 2026-12-31 K1\nlicense beta SN2 never K2\n".into(),
        ),
    );
    assert!(warnings(&acts).is_empty(), "{acts:?}");
    let acts = t.at(10, Input::Today("2026-12-06".into()));
    assert!(warnings(&acts).is_empty(), "{acts:?}");
    let acts = t.at(15, Input::Today("2026-12-31".into()));
    assert!(
        warnings(&acts).is_empty(),
        "good through its last day: {acts:?}"
    );
    let acts = t.at(20, Input::Today("2027-01-01".into()));
    let w = warnings(&acts);
    assert!(
        w.len() == 1 && w[0].contains("license: alpha EXPIRED;"),
        "{w:?}"
    );
    let acts = t.at(30, Input::Today("2027-01-02".into()));
    assert!(warnings(&acts).is_empty(), "said once: {acts:?}");
    let acts = t.cmd(40, "license", Some("r"));
    let r = replies(&acts);
    assert!(
        r[0].body.contains("LICENSE alpha SN1 2026-12-31 EXPIRED\n"),
        "{r:?}"
    );
    assert!(r[0].body.contains("LICENSE beta SN2 never OK\n"), "{r:?}");
    // A license for a host the configuration does not name is listed too.
    t.cmd(50, "license gamma SN3 never K3", Some("g"));
    let acts = t.cmd(60, "license", Some("r2"));
    let body = &replies(&acts)[0].body;
    assert!(body.ends_with("LICENSE gamma SN3 never OK\n"), "{body}");
    assert!(
        body.contains("LICENSE alpha SN1 2026-12-31 EXPIRED\n"),
        "the others kept: {body}"
    );
    // A host's new license replaces its old one.
    t.cmd(70, "license alpha SN4 2030-01-01 K4", Some("a"));
    let acts = t.cmd(80, "license", Some("r3"));
    let body = &replies(&acts)[0].body;
    assert!(
        body.starts_with("LICENSE alpha SN4 2030-01-01 OK\nLICENSE beta"),
        "{body}"
    );
}
