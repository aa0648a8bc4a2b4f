//! Changing the authkey while the pair runs (`haadm authkey rotate`), with no pause in the
//! links. The node asked makes a new key (etc/authkey.next, also accepted from then on) and
//! offers it to the peer, under the current key; the peer keeps it as its next key too and
//! says it holds it; the first node switches (seals with the new key, still accepts the
//! old one, etc/authkey.prev) and says so; the peer switches and says so; the first node
//! then drops the old key and tells the peer, which drops it too. Each word is sent again
//! every second until the next one comes, so a lost frame costs a second. The keys are in
//! files, written by the executor (`Action::Key`); the link processes take them up.
//!
//! A node down during all of it keeps the old key: its peer's frames fail their tag there,
//! and it says what to do (`peer::link_stats`).

use super::interface::{log, Action, Here, KeyFiles, ReplyTo};
use super::{Engine, PeerStatus};
use crate::clock::Millis;
use crate::log::Level;
use crate::request::Reply;
/// How often an unanswered word is sent again, and how long an offer may wait.
const RESEND: Millis = 1000;
const OFFER_FOR: Millis = 30_000;
/// A node says it holds or switched to a key this long after its files changed: by then
/// its link processes have read them (hasvrd tells them at once).
const SETTLE: Millis = 300;

/// The steps, as a `Message::Key` carries them.
pub const OFFER: u8 = 1;
pub const HELD: u8 = 2;
pub const SWITCHED: u8 = 3;
pub const DONE: u8 = 4;

/// This node's part in a change of key: where it stands, and the word to send again
/// (when, step, data).
#[derive(Clone, Debug, Default)]
pub(super) struct KeyChange {
    rotation: Option<Rotation>,
    resend: Option<(Millis, u8, Vec<u8>)>,
}

/// Where a change of key stands on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Rotation {
    /// Asked to rotate: the new key is being made.
    Making,
    /// The new key (its fingerprint) is offered to the peer since then.
    Offered {
        key: Vec<u8>,
        fp: String,
        since: Millis,
    },
    /// The peer offered this key; it is held as the next one since then.
    Holding { fp: String, since: Millis },
    /// Sealing with the new key; waiting for the peer to say it does too (this node
    /// began) or that the old key is gone (the peer began).
    Switched { fp: String, began: bool },
}

impl KeyChange {
    /// `haadm authkey rotate`, unless one is under way or the engine refuses (a link in
    /// clear, the peer not hearing this node).
    pub(super) fn rotate(
        &mut self,
        here: &Here,
        refusal: Option<Reply>,
        out: &mut Vec<Action>,
    ) -> Reply {
        let peer = here.peer;
        if self.rotation.is_some() {
            return Reply::err("a change of key is under way already (haadm status: KEY)");
        }
        if let Some(r) = refusal {
            return r;
        }
        self.rotation = Some(Rotation::Making);
        out.push(Action::Key(KeyFiles::Make));
        log(
            out,
            Level::Info,
            format!("authkey: a new key is made; it goes to {peer} under the current one"),
        );
        Reply::ok(format!(
            "a new key goes to {peer}; both nodes use it within seconds, then the old one is refused (the log says when)\n"
        ))
    }

    /// The executor made, stored or switched to a key.
    pub(super) fn files_done(
        &mut self,
        here: &Here,
        step: u8,
        result: Result<(Vec<u8>, String), String>,
        out: &mut Vec<Action>,
    ) {
        let (key, fp) = match result {
            Ok(k) => k,
            Err(e) => {
                log(
                    out,
                    Level::Error,
                    format!("authkey: {e}; the change of key is abandoned"),
                );
                self.rotation = None;
                return;
            }
        };
        match step {
            OFFER => {
                self.rotation = Some(Rotation::Offered {
                    key: key.clone(),
                    fp,
                    since: here.now,
                });
                self.word(here, OFFER, key, out);
            }
            HELD => {
                self.rotation = Some(Rotation::Holding {
                    fp: fp.clone(),
                    since: here.now,
                });
                self.resend = Some((here.now + SETTLE, HELD, fp.into_bytes()));
            }
            _ => {
                let began = matches!(self.rotation, Some(Rotation::Offered { .. }));
                self.rotation = Some(Rotation::Switched {
                    fp: fp.clone(),
                    began,
                });
                log(
                    out,
                    Level::Info,
                    format!(
                        "authkey: sealing with the new key {fp}; the old one is still taken from {}",
                        here.peer
                    ),
                );
                self.resend = Some((here.now + SETTLE, SWITCHED, fp.into_bytes()));
            }
        }
    }

    /// At start: a change of key left unfinished by the last hasvrd goes on. Switched (the
    /// old key still beside it): say so again, so the peer switches too and both drop the
    /// old one. Holding a next key: wait for the peer's word.
    pub(super) fn on_disk(
        &mut self,
        now: Millis,
        main: String,
        next: Option<String>,
        prev: Option<String>,
        out: &mut Vec<Action>,
    ) {
        self.rotation = if prev.is_some() {
            self.resend = Some((now + SETTLE, SWITCHED, main.clone().into_bytes()));
            Some(Rotation::Switched {
                fp: main,
                began: false,
            })
        } else {
            next.map(|fp| Rotation::Holding { fp, since: now })
        };
        if let Some(r) = &self.rotation {
            log(
                out,
                Level::Info,
                format!("authkey: a change of key was under way when hasvrd last stopped; it goes on ({})", line_of(r).trim_end()),
            );
        }
    }

    /// A word of the peer about a change of key.
    pub(super) fn peer_sent(
        &mut self,
        here: &Here,
        step: u8,
        data: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        let peer = here.peer;
        let fp = String::from_utf8_lossy(&data).into_owned();
        match (step, self.rotation.clone()) {
            // Its offer, or a newer one (an earlier change left unfinished): kept as the
            // next key. The same again (our word was lost): said again in time.
            (OFFER, None | Some(Rotation::Holding { .. })) if (16..=128).contains(&data.len()) => {
                let offered = crate::auth::key_fingerprint(&data);
                let same =
                    matches!(&self.rotation, Some(Rotation::Holding { fp, .. }) if *fp == offered);
                if !same {
                    out.push(Action::Key(KeyFiles::Store(data)));
                }
            }
            (HELD, Some(Rotation::Offered { fp: mine, .. })) if mine == fp => {
                out.push(Action::Key(KeyFiles::Switch(fp)));
            }
            // The peer seals with it: so does this node, if it holds it or already does
            // (this hasvrd restarted, or our word was lost; the executor checks which).
            (SWITCHED, None) => out.push(Action::Key(KeyFiles::Switch(fp))),
            (SWITCHED, Some(Rotation::Holding { fp: mine, .. })) if mine == fp => {
                out.push(Action::Key(KeyFiles::Switch(fp)));
            }
            // Both seal with it: the old key goes.
            (SWITCHED, Some(Rotation::Switched { fp: mine, .. })) if mine == fp => {
                out.push(Action::Key(KeyFiles::DropOld));
                self.rotation = None;
                self.word(here, DONE, fp.clone().into_bytes(), out);
                log(
                    out,
                    Level::Info,
                    format!(
                        "authkey: both nodes use the new key {fp}; the old one is refused from now"
                    ),
                );
            }
            (DONE, Some(Rotation::Switched { fp: mine, .. })) if mine == fp => {
                out.push(Action::Key(KeyFiles::DropOld));
                self.rotation = None;
                log(
                    out,
                    Level::Info,
                    format!("authkey: both nodes use the new key {fp}, as {peer} says; the old one is refused from now"),
                );
            }
            _ => {}
        }
    }

    /// Sends a word now, and again every second until the next step replaces it.
    fn word(&mut self, here: &Here, step: u8, data: Vec<u8>, out: &mut Vec<Action>) {
        self.resend = Some((here.now + RESEND, step, data.clone()));
        let payload = crate::frame::Message::Key {
            sender: here.node.to_string(),
            step,
            data,
        }
        .encode();
        out.push(Action::Send {
            link: None,
            payload,
        });
    }

    /// On every pass: sends the last word again when due; gives up an offer never taken,
    /// and a key held for a change the peer never went on with.
    pub(super) fn check(&mut self, here: &Here, out: &mut Vec<Action>) {
        let (now, peer) = (here.now, here.peer);
        if self.rotation.is_none() {
            self.resend = None;
            return;
        }
        if let Some(Rotation::Holding { since, fp }) = &self.rotation {
            if now >= since + 2 * OFFER_FOR {
                // The key stays taken (etc/authkey.next): the peer may have switched to it
                // while its word could not come, and must not fall silent here.
                log(out, Level::Warning, format!(
                    "authkey: the change to key {fp} that {peer} began has not gone on for {}s; this node still takes that key, and goes on when {peer} says it switched",
                    2 * OFFER_FOR / 1000
                ));
                self.rotation = None;
                self.resend = None;
                return;
            }
        }
        if let Some(Rotation::Offered { since, .. }) = &self.rotation {
            if now >= since + OFFER_FOR {
                log(out, Level::Error, format!(
                    "authkey: {peer} did not take the new key within {}s (down, cut off, or of the release before); the change is abandoned and the current key stays",
                    OFFER_FOR / 1000
                ));
                out.push(Action::Key(KeyFiles::DropNext));
                self.rotation = None;
                self.resend = None;
                return;
            }
        }
        if let Some((at, step, data)) = self.resend.clone() {
            if now >= at {
                self.word(here, step, data, out);
            }
        }
    }

    pub(super) fn wakeup(&self) -> Option<Millis> {
        let resend = self.resend.as_ref().map(|r| r.0);
        let give_up = match &self.rotation {
            Some(Rotation::Offered { since, .. }) => Some(since + OFFER_FOR),
            Some(Rotation::Holding { since, .. }) => Some(since + 2 * OFFER_FOR),
            _ => None,
        };
        [resend, give_up].into_iter().flatten().min()
    }

    /// A status line while a change of key is under way.
    pub(super) fn line(&self) -> Option<String> {
        self.rotation.as_ref().map(line_of)
    }
}

fn line_of(r: &Rotation) -> String {
    match r {
        Rotation::Making => "KEY making a new key\n".into(),
        Rotation::Offered { fp, .. } => format!("KEY offered {fp} to the peer\n"),
        Rotation::Holding { fp, .. } => format!("KEY holding {fp}, offered by the peer\n"),
        Rotation::Switched { fp, .. } => {
            format!("KEY switched to {fp}; the old key is still taken\n")
        }
    }
}

impl Engine {
    /// `haadm authkey rotate`: only with every link encrypted and the peer up and hearing
    /// this node.
    pub(super) fn rotate_key(&mut self, reply: Option<ReplyTo>) {
        let peer = self.peer_name();
        let clear = self
            .peer
            .links
            .iter()
            .find(|(_, l)| l.stats.contains("encrypted=no"))
            .map(|(n, _)| n);
        let refusal = if let Some(link) = clear {
            Some(Reply::err(format!(
                "link {link} is not encrypted ({peer} runs the release before): upgrade it first; a key never crosses in clear"
            )))
        } else if self.peer_status() != PeerStatus::Up
            || !self.peer.view.as_ref().is_some_and(|p| p.hears_me)
        {
            Some(Reply::err(format!(
                "{peer} must be up and hear this node to take the new key; a node that is down gets it later with haadm authkey install FILE"
            )))
        } else {
            None
        };
        let r = self.key_change.rotate(&here!(self), refusal, &mut self.out);
        self.reply(reply, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Message;

    const NODES: [&str; 2] = ["alpha", "beta"];

    /// Two nodes' changes of key, their key files as the executor keeps them, and the
    /// words between them (lost while `lost[n]` says so for words from n).
    struct Pair {
        change: [KeyChange; 2],
        keys: [Vec<u8>; 2],
        next: [Option<Vec<u8>>; 2],
        prev: [Option<Vec<u8>>; 2],
        logs: [Vec<String>; 2],
        dropped_next: [usize; 2],
        lost: [bool; 2],
        words: [usize; 2],
        now: Millis,
    }

    fn here(n: usize, now: Millis) -> Here<'static> {
        Here {
            node: NODES[n],
            peer: NODES[1 - n],
            now,
        }
    }

    impl Pair {
        fn new() -> Pair {
            Pair {
                change: Default::default(),
                keys: std::array::from_fn(|_| b"the first key of the pair".to_vec()),
                next: [None, None],
                prev: [None, None],
                logs: Default::default(),
                dropped_next: [0; 2],
                lost: [false; 2],
                words: [0; 2],
                now: 0,
            }
        }

        /// Carries out node n's actions: key files at once, words to the peer.
        fn act(&mut self, n: usize, out: Vec<Action>) {
            for a in out {
                match a {
                    Action::Log { text, .. } => self.logs[n].push(text),
                    Action::Key(files) => {
                        let fp = |k: &[u8]| crate::auth::key_fingerprint(k);
                        let done = match files {
                            KeyFiles::Make => {
                                let key = format!("a new key made by {}", NODES[n]).into_bytes();
                                self.next[n] = Some(key.clone());
                                Some((OFFER, Ok((key.clone(), fp(&key)))))
                            }
                            KeyFiles::Store(key) => {
                                self.next[n] = Some(key.clone());
                                Some((HELD, Ok((key.clone(), fp(&key)))))
                            }
                            KeyFiles::Switch(want) => {
                                if self.next[n].as_deref().is_some_and(|k| fp(k) == want) {
                                    let next = self.next[n].take().unwrap_or_default();
                                    self.prev[n] = Some(std::mem::replace(&mut self.keys[n], next));
                                }
                                let r = if fp(&self.keys[n]) == want {
                                    Ok((self.keys[n].clone(), want))
                                } else {
                                    Err(format!("no key {want}"))
                                };
                                Some((SWITCHED, r))
                            }
                            KeyFiles::DropOld => {
                                self.prev[n] = None;
                                None
                            }
                            KeyFiles::DropNext => {
                                self.dropped_next[n] += 1;
                                self.next[n] = None;
                                None
                            }
                        };
                        if let Some((step, result)) = done {
                            let mut out = Vec::new();
                            self.change[n].files_done(&here(n, self.now), step, result, &mut out);
                            self.act(n, out);
                        }
                    }
                    Action::Send { payload, .. } => {
                        self.words[n] += 1;
                        if self.lost[n] {
                            continue;
                        }
                        let Ok(Message::Key { step, data, .. }) = Message::decode(&payload) else {
                            panic!("only key words here");
                        };
                        let mut out = Vec::new();
                        self.change[1 - n].peer_sent(&here(1 - n, self.now), step, data, &mut out);
                        self.act(1 - n, out);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }

        fn rotate(&mut self, n: usize) -> Reply {
            let mut out = Vec::new();
            let r = self.change[n].rotate(&here(n, self.now), None, &mut out);
            self.act(n, out);
            r
        }

        /// Passes every 100 ms until `until`.
        fn run(&mut self, until: Millis) {
            while self.now < until {
                self.now += 100;
                for n in 0..2 {
                    let mut out = Vec::new();
                    self.change[n].check(&here(n, self.now), &mut out);
                    self.act(n, out);
                }
            }
        }

        fn said(&self, n: usize, what: &str) -> bool {
            self.logs[n].iter().any(|l| l.contains(what))
        }
    }

    #[test]
    fn a_change_of_key_ends_with_both_nodes_on_the_new_key_and_the_old_one_dropped() {
        let mut p = Pair::new();
        assert_eq!(p.rotate(0).status, crate::request::Status::Ok);
        assert_eq!(
            p.change[0].line().as_deref(),
            Some("KEY offered ")
                .map(|_| p.change[0].line().unwrap())
                .as_deref()
        );
        assert!(p.change[1].line().unwrap().starts_with("KEY holding "));
        assert!(
            p.rotate(0).status != crate::request::Status::Ok,
            "one at a time"
        );
        p.run(2000);
        let new = b"a new key made by alpha".to_vec();
        assert_eq!(p.keys, [new.clone(), new]);
        assert_eq!(p.prev, [None, None], "the old key is refused on both");
        assert_eq!(p.next, [None, None]);
        assert!(p.said(0, "both nodes use the new key") && p.said(1, "as alpha says"));
        assert_eq!((p.change[0].line(), p.change[1].line()), (None, None));
        assert_eq!((p.change[0].wakeup(), p.change[1].wakeup()), (None, None));
        // Quiet afterwards: no word goes again.
        let words = p.words;
        p.run(5000);
        assert_eq!(p.words, words);
    }

    #[test]
    fn a_lost_word_is_sent_again_every_second_until_the_next_step() {
        let mut p = Pair::new();
        p.lost = [true, false];
        p.rotate(0);
        assert_eq!(p.change[0].wakeup(), Some(RESEND));
        p.run(2900);
        assert_eq!(p.words[0], 3, "the offer at 0, 1000 and 2000");
        assert!(p.next[1].is_none(), "beta heard nothing");
        p.lost = [false, false];
        p.run(5000);
        assert!(p.said(0, "both nodes use the new key"));
        assert_eq!(p.keys[0], p.keys[1]);
    }

    #[test]
    fn an_offer_never_taken_is_given_up_and_a_key_held_for_a_change_that_stalls_stays_taken() {
        let mut p = Pair::new();
        // beta takes the offer, but none of its words come back.
        p.lost = [false, true];
        p.rotate(0);
        assert_eq!(p.change[0].wakeup(), Some(RESEND));
        p.run(OFFER_FOR - 100);
        assert_eq!(p.dropped_next[0], 0);
        p.run(OFFER_FOR);
        assert!(p.said(0, "did not take the new key within 30s"));
        assert_eq!(p.dropped_next[0], 1);
        assert_eq!(p.change[0].line(), None);
        // beta holds it for twice as long, then says so, and still takes the key.
        assert!(p.change[1].line().is_some());
        p.run(2 * OFFER_FOR - 100);
        assert!(!p.said(1, "has not gone on"));
        p.run(2 * OFFER_FOR + 100);
        assert!(p.said(1, "has not gone on for 60s"));
        assert_eq!(p.change[1].line(), None);
        assert_eq!(p.dropped_next[1], 0, "the key stays taken");
        assert!(p.next[1].is_some());
        assert_eq!(p.keys[0], p.keys[1], "nobody switched");
    }

    #[test]
    fn a_change_left_unfinished_by_a_restart_goes_on_and_an_offer_out_of_bounds_is_ignored() {
        let mut k = KeyChange::default();
        let mut out = Vec::new();
        k.on_disk(5000, "aaaa".into(), None, Some("old".into()), &mut out);
        assert_eq!(
            k.line().as_deref(),
            Some("KEY switched to aaaa; the old key is still taken\n")
        );
        assert_eq!(k.wakeup(), Some(5000 + SETTLE));
        assert_eq!(out.len(), 1, "said in the log");
        let mut k = KeyChange::default();
        k.on_disk(5000, "aaaa".into(), Some("bbbb".into()), None, &mut out);
        assert_eq!(
            k.line().as_deref(),
            Some("KEY holding bbbb, offered by the peer\n")
        );
        assert_eq!(k.wakeup(), Some(5000 + 2 * OFFER_FOR));
        let mut k = KeyChange::default();
        let mut out = Vec::new();
        k.on_disk(5000, "aaaa".into(), None, None, &mut out);
        assert!(k.line().is_none() && out.is_empty());
        for len in [15, 129] {
            k.peer_sent(&here(1, 0), OFFER, vec![b'k'; len], &mut out);
            assert!(out.is_empty(), "{len} bytes");
        }
        k.peer_sent(&here(1, 0), OFFER, vec![b'k'; 16], &mut out);
        assert!(matches!(&out[..], [Action::Key(KeyFiles::Store(_))]));
        // The peer seals with a key while nothing is under way here (a restart, a held key
        // given up): this node switches too, if it has it.
        let mut k = KeyChange::default();
        let mut out = Vec::new();
        k.peer_sent(&here(1, 0), SWITCHED, b"cccc".to_vec(), &mut out);
        assert!(matches!(&out[..], [Action::Key(KeyFiles::Switch(fp))] if fp == "cccc"));
        // Words about another key than the one under way change nothing.
        let mut k = KeyChange::default();
        let mut out = Vec::new();
        k.on_disk(0, "aaaa".into(), Some("bbbb".into()), None, &mut out);
        let mut out = Vec::new();
        k.peer_sent(&here(1, 0), SWITCHED, b"cccc".to_vec(), &mut out);
        assert!(out.is_empty(), "holding bbbb: {out:?}");
        let mut k = KeyChange {
            rotation: Some(Rotation::Offered {
                key: b"a key of sixteen bytes".to_vec(),
                fp: "dddd".into(),
                since: 0,
            }),
            resend: None,
        };
        k.peer_sent(&here(1, 0), HELD, b"eeee".to_vec(), &mut out);
        assert!(out.is_empty(), "offered dddd: {out:?}");
        // An offer is given up 30 s after it was made, a held key 60 s after (the resends
        // come sooner while there are any).
        k.resend = None;
        k.rotation = Some(Rotation::Offered {
            key: b"a key of sixteen bytes".to_vec(),
            fp: "dddd".into(),
            since: 40_000,
        });
        assert_eq!(k.wakeup(), Some(40_000 + OFFER_FOR));
        k.resend = Some((41_000, OFFER, Vec::new()));
        assert_eq!(k.wakeup(), Some(41_000));
        // Switched to aaaa: the peer's word that another key is done changes nothing.
        let mut k = KeyChange::default();
        let mut out = Vec::new();
        k.on_disk(0, "aaaa".into(), None, Some("old".into()), &mut out);
        let mut out = Vec::new();
        k.peer_sent(&here(1, 0), DONE, b"bbbb".to_vec(), &mut out);
        k.peer_sent(&here(1, 0), SWITCHED, b"bbbb".to_vec(), &mut out);
        assert!(out.is_empty() && k.line().is_some());
        k.peer_sent(&here(1, 0), DONE, b"aaaa".to_vec(), &mut out);
        assert!(matches!(out[0], Action::Key(KeyFiles::DropOld)));
        assert!(k.line().is_none());
    }
}
