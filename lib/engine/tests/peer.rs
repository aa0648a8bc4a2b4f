//! What the engine makes of its peer's frames and its links' reports: whose boot a beat
//! heard, frames that fail their tag, each read's newest beat, a link's timing on reload.

use super::*;

/// Found by the chaos run (seed 1001): a restarted hasvrd read first a beat its peer had
/// sent before the restart (left in a serial line's buffer): "I hear you", a service
/// stopped there. Taken as two-way contact, it started the service while the peer, which
/// had taken it over meanwhile, ran it. A beat says which of our boots it hears.
#[test]
fn a_beat_that_heard_an_earlier_boot_of_this_hasvrd_is_no_two_way_contact() {
    let mut t = T::new(&svc(""));
    t.e.set_boot(7);
    t.at(100, peer_beat(1 << 20, 6));
    assert!(
        !t.e.peer.view.as_ref().unwrap().hears_me,
        "it heard boot 6, not us"
    );
    t.at(200, peer_beat(2 << 20, 7));
    assert!(t.e.peer.view.as_ref().unwrap().hears_me);
    // What this hasvrd says it hears: the boot of the peer's frames.
    let ours = t.e.beat_payload();
    match crate::frame::Message::decode(&ours) {
        Ok(crate::frame::Message::Beat(b)) => assert_eq!((b.hears_you, b.heard), (true, 3)),
        other => panic!("{other:?}"),
    }
}

/// A peer of the release before `heard` (b05d80b): its beats end before that field, and it
/// refuses a beat that has it. Its beats are read, its "I hear you" taken as it is, and ours
/// go without `heard` while its beats do.
#[test]
fn a_peer_of_the_release_before_heard_is_heard_and_answered_in_its_own_format() {
    let mut t = T::new(&svc(""));
    t.e.set_boot(7);
    let Input::Frame {
        link,
        boot,
        seq,
        mut payload,
    } = peer_beat(1 << 20, 0)
    else {
        unreachable!()
    };
    crate::frame::beat_without_heard(&mut payload);
    t.at(
        100,
        Input::Frame {
            link,
            boot,
            seq,
            payload: payload.clone(),
        },
    );
    let p = t.e.peer.view.as_ref().unwrap();
    assert!(p.hears_me && p.short_beats);
    let ours = t.e.beat_payload();
    let Ok(crate::frame::Message::Beat(b)) = crate::frame::Message::decode(&ours) else {
        panic!("our beat does not decode")
    };
    assert!(
        crate::frame::beat_lacks_heard(&b, &ours),
        "ours goes without heard"
    );
    // The peer upgraded: its beats carry `heard` again, and so do ours.
    t.at(200, peer_beat(2 << 20, 7));
    assert!(!t.e.peer.view.as_ref().unwrap().short_beats);
    let ours = t.e.beat_payload();
    let Ok(crate::frame::Message::Beat(b)) = crate::frame::Message::decode(&ours) else {
        panic!("our beat does not decode")
    };
    assert!(!crate::frame::beat_lacks_heard(&b, &ours));
}

/// A node that missed a key rotation (or was given another authkey) hears frames whose tag
/// fails on every link: its peer is alive, and taking its services over would run them
/// twice. It starts nothing while they come, and says what to do; once they stop, the peer
/// is down as any silent one.
#[test]
fn a_peer_whose_frames_do_not_authenticate_is_not_taken_for_dead() {
    let mut t = T::new(&svc(""));
    t.cmd(0, "service bringin web", Some("r"));
    let stats = |n: u64| Input::LinkStats {
        link: "lan".into(),
        line: format!("rx=0 up=0 crc=0 tag={n} unsigned=0 replay=0"),
    };
    let mut all = Vec::new();
    for (i, ms) in (0..=6000).step_by(500).enumerate() {
        all.extend(t.at(ms, stats(i as u64 + 1)));
    }
    assert!(
        !all.iter().any(|a| matches!(a, Action::Run { .. })),
        "started beside a live peer"
    );
    let errors: Vec<&Action> = all
        .iter()
        .filter(|a| matches!(a, Action::Log { level: Level::Error, text } if text.contains("authkey differs")))
        .collect();
    assert_eq!(errors.len(), 1, "{all:?}");
    assert!(t.e.status_text().contains("CLUSTER KEY-MISMATCH"));
    // The counts stop growing (the same number again): after the link's silence limit
    // (300 ms, and a second for the counters' pace) the peer is down, and it starts here.
    t.at(6400, stats(13));
    assert!(t.e.status_text().contains("CLUSTER KEY-MISMATCH"));
    let mut started = None;
    for ms in (6500..10_000).step_by(100) {
        let acts = t.at(ms, Input::Tick);
        if started.is_none() && acts.iter().any(|a| matches!(a, Action::Run { .. })) {
            started = Some(ms);
        }
    }
    // The count last grew at 6000: 6000 + 300 + 1000, at the next tick.
    assert_eq!(started, Some(7300), "taken over once the frames stopped");
    assert!(!t.e.status_text().contains("KEY-MISMATCH"));
}

/// Of one read of the links, each link's newest beat is taken, with every other message in
/// its order: older beats, acted on one by one after a stall, would have the engine decide
/// on what is no longer so (simulator seeds 21589988, 21869558).
#[test]
fn of_one_read_only_each_links_newest_beat_is_taken() {
    let beat = |n: u8| vec![crate::frame::BEAT_KIND, n];
    let frame = |link: &str, payload: Vec<u8>| Input::Frame {
        link: link.into(),
        boot: 1,
        seq: 1,
        payload,
    };
    let mut inputs = vec![
        frame("lan", beat(1)),
        frame("lan", vec![2, 9]),
        frame("ser", beat(1)),
        frame("lan", beat(2)),
        Input::Tick,
        frame("ser", beat(2)),
        frame("lan", beat(3)),
    ];
    super::newest_beats_only(&mut inputs);
    assert_eq!(
        inputs,
        vec![
            frame("lan", vec![2, 9]),
            Input::Tick,
            frame("ser", beat(2)),
            frame("lan", beat(3)),
        ]
    );
}

/// A reload that changes a link's timing takes effect on the link (what the engine keeps of
/// the link, its last frame, stays).
#[test]
fn a_reload_gives_the_links_their_new_timing() {
    let mut t = running("");
    let slower = svc("").replacen("interval = 100ms", "interval = 1s", 1);
    t.at(
        2000,
        Input::Reload(Ok((config::parse("t", &slower).unwrap(), slower.clone()))),
    );
    t.at(3000, peer_beat(1 << 20, 0));
    // Alive for three intervals of 1 s now, not of 100 ms (ticks as often as the loop
    // wakes: a long gap would be a stall).
    for ms in (3100..=5900).step_by(100) {
        t.at(ms, Input::Tick);
    }
    assert!(
        t.e.status_text().contains("LINK lan socket OK"),
        "{}",
        t.e.status_text()
    );
    t.at(6000, Input::Tick);
    t.at(6100, Input::Tick);
    assert!(
        t.e.status_text().contains("LINK lan socket ERR"),
        "{}",
        t.e.status_text()
    );
}

/// Mutation testing found nothing noticing which link control traffic names (the simulator
/// carries every frame but a disk link's over the private network, whatever link it names):
/// the configuration goes to the peer over the live link of highest priority, by name.
#[test]
fn the_configuration_goes_to_the_peer_over_a_live_link_by_its_name() {
    let mut t = T::new(&svc(""));
    let acts = t.at(100, peer_beat(1 << 20, 0));
    let sent: Vec<&Option<String>> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Send { link, payload } if payload.first() == Some(&2) => Some(link),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![&Some("lan".to_string())], "{acts:?}");
}

#[test]
fn the_peer_is_unknown_until_the_grace_ends_and_down_at_its_silence_limit_to_the_millisecond() {
    let mut t = T::new(&svc(""));
    // Grace: the longest silence limit (300 ms) and half a second.
    t.at(799, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Unknown);
    t.at(800, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Down);
    t.at(900, peer_beat(1, 0));
    t.at(1199, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Up);
    t.at(1200, Input::Tick);
    assert_eq!(t.e.peer_status(), PeerStatus::Down);
}

#[test]
fn nics_are_logged_as_they_fail_and_return_and_listed_by_status_and_network() {
    let mut t = running("active_ip = 192.0.2.10\nactive_nic = eth0\nstandby_nic = eth0\n");
    let nic = |name: &str, ok: bool, addr: &str| NicState {
        name: name.into(),
        ok,
        addrs: vec![addr.parse().unwrap()],
    };
    let logs = |acts: &[Action]| -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Log { text, .. } if text.starts_with("NIC ") => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    let acts = t.at(
        2000,
        Input::Nics(vec![
            nic("eth1", true, "10.1.0.1"),
            nic("eth0", true, "192.0.2.1"),
        ]),
    );
    assert!(logs(&acts).is_empty(), "{:?}", logs(&acts));
    let acts = t.at(
        2100,
        Input::Nics(vec![
            nic("eth1", true, "10.1.0.1"),
            nic("eth0", false, "192.0.2.1"),
        ]),
    );
    assert_eq!(logs(&acts), ["NIC eth0: ERR (no link or no carrier)"]);
    let acts = t.at(
        2200,
        Input::Nics(vec![
            nic("eth1", false, "10.1.0.1"),
            nic("eth0", true, "192.0.2.1"),
        ]),
    );
    assert_eq!(
        logs(&acts),
        ["NIC eth0: OK again"],
        "eth1 is no service's: not watched aloud"
    );
    // Status: the NICs the services name, without addresses; network: every NIC, with them.
    let status = t.e.status_text();
    assert!(
        status.contains("NIC alpha eth0 OK\n") && !status.contains("eth1"),
        "{status}"
    );
    let r = t.cmd(2300, "network", Some("n"));
    let body = reply_body(&r);
    assert!(body.contains("NIC alpha eth1 ERR 10.1.0.1\n"), "{body}");
    assert!(body.contains("NIC alpha eth0 OK 192.0.2.1\n"), "{body}");
}

fn reports(acts: &[Action]) -> Vec<String> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { payload, .. } => match crate::frame::Message::decode(payload) {
                Ok(crate::frame::Message::Report { text, .. }) => Some(text),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn the_readiness_report_goes_when_it_changes_when_the_peer_restarts_and_every_two_minutes() {
    let mut t = running("");
    let facts = |digest: &str| {
        Input::Readiness(crate::engine::LocalFacts {
            files: vec![crate::engine::FileFact {
                service: "web".into(),
                role: "start",
                name: "web.start".into(),
                path: "/opt/web.start".into(),
                digest: Ok((digest.into(), true)),
                must_execute: true,
            }],
            devices: vec![],
        })
    };
    t.at(2000, facts("aaaa"));
    // The peer comes: the report goes once.
    let mut sent = Vec::new();
    let mut seq = 0;
    let mut beat = |t: &mut T, at: Millis, boot: u64| {
        seq += 1;
        let mut b = peer_beat(seq, 0);
        if let Input::Frame { boot: bt, .. } = &mut b {
            *bt = boot;
        }
        t.at(at, b)
    };
    for at in (2100..=3000).step_by(100) {
        sent.extend(reports(&beat(&mut t, at, 3)));
    }
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("FILE web aaaa start: web.start\nREADY web yes\n"),
        "{}",
        sent[0]
    );
    // Judged again every 5 s; unchanged, it does not go again.
    let look = t.e.knowing.next_look().unwrap();
    assert!(look > 3000 && look <= 2100 + 5000, "{look}");
    // A pass before then does not judge again (it costs in proportion to the services).
    t.cmd(3010, "status", Some("s"));
    assert_eq!(t.e.knowing.next_look(), Some(look));
    // A change goes at once.
    let mut acts = t.at(3050, facts("bbbb"));
    acts.extend(beat(&mut t, 3100, 3));
    let r = reports(&acts);
    assert!(r.len() == 1 && r[0].contains("FILE web bbbb"), "{r:?}");
    // The peer restarted (another boot id): again.
    let mut sent = Vec::new();
    for at in (3200..=4000).step_by(100) {
        sent.extend(reports(&beat(&mut t, at, 4)));
    }
    assert_eq!(sent.len(), 1, "{sent:?}");
    // Two minutes after the last one, again, unchanged.
    let mut sent = Vec::new();
    for at in (4100..=123_100).step_by(100) {
        sent.extend(reports(&beat(&mut t, at, 4)));
    }
    assert_eq!(sent.len(), 0, "{sent:?}");
    let mut sent = Vec::new();
    for at in (123_200..=124_500).step_by(100) {
        sent.extend(reports(&beat(&mut t, at, 4)));
    }
    assert_eq!(sent.len(), 1, "{sent:?}");
}

#[test]
fn a_readiness_report_too_long_for_a_frame_is_cut_at_a_line() {
    let mut t = running("");
    let files = (0..2000)
        .map(|i| crate::engine::FileFact {
            service: "web".into(),
            role: "file",
            name: format!("some/rather/long/path/to/a/file/of/the/service/number-{i}"),
            path: format!("/opt/{i}"),
            digest: Ok(("0123456789abcdef".into(), true)),
            must_execute: false,
        })
        .collect();
    t.at(
        2000,
        Input::Readiness(crate::engine::LocalFacts {
            files,
            devices: vec![],
        }),
    );
    let mut sent = Vec::new();
    for (i, at) in (2100..=2500).step_by(100).enumerate() {
        sent.extend(reports(&t.at(at, peer_beat(i as u64 + 1, 0))));
    }
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert!(
        r.len() <= crate::frame::MAX_REPORT && r.len() > crate::frame::MAX_REPORT - 200,
        "{}",
        r.len()
    );
    assert!(r.ends_with('\n') && r.starts_with("FILE web "));
}
