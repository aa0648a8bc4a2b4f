//! The console's sessions: a random token in an HttpOnly, SameSite=Strict cookie is all the
//! browser keeps; each session has its own CSRF token, which every state-changing request
//! must carry, and its cluster connection. Sessions end when idle too long, or too old.

use super::doors::Cluster;
use crate::auth;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const IDLE: Duration = Duration::from_secs(15 * 60);
pub const LONGEST: Duration = Duration::from_secs(12 * 3600);
/// Sessions at once; the least recently seen goes first.
const MAX_SESSIONS: usize = 64;
pub const COOKIE: &str = "sureha_console";

pub struct Session {
    pub csrf: String,
    created: Instant,
    seen: Mutex<Instant>,
    pub cluster: Mutex<Option<Arc<Cluster>>>,
    /// Held during a Connect: one login at a time per session.
    pub connecting: Mutex<()>,
}

impl Session {
    pub fn cluster(&self) -> Option<Arc<Cluster>> {
        self.cluster.lock().ok().and_then(|c| c.clone())
    }
}

pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    longest: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limits(IDLE, LONGEST)
    }
}

impl Sessions {
    /// Sessions that end after `idle` without a request, or `longest` in all.
    pub fn with_limits(idle: Duration, longest: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            longest,
        }
    }

    /// A new session: its token (for the cookie) and itself.
    pub fn create(&self) -> (String, Arc<Session>) {
        let token = auth::hex(&auth::random_bytes::<32>());
        let s = Arc::new(Session {
            csrf: auth::hex(&auth::random_bytes::<32>()),
            created: Instant::now(),
            seen: Mutex::new(Instant::now()),
            cluster: Mutex::new(None),
            connecting: Mutex::new(()),
        });
        if let Ok(mut m) = self.map.lock() {
            self.expire(&mut m);
            while m.len() >= MAX_SESSIONS {
                // Pages that never connected go first: a flood of new pages cannot push
                // out an administrator's session.
                let oldest = m
                    .iter()
                    .min_by_key(|(_, s)| {
                        (
                            s.cluster().is_some(),
                            s.seen.lock().map(|t| *t).unwrap_or(s.created),
                        )
                    })
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => m.remove(&k),
                    None => break,
                };
            }
            m.insert(token.clone(), Arc::clone(&s));
        }
        (token, s)
    }

    /// The live session of a token; seeing it keeps it alive.
    pub fn get(&self, token: &str) -> Option<Arc<Session>> {
        let mut m = self.map.lock().ok()?;
        self.expire(&mut m);
        let s = m.get(token)?.clone();
        if let Ok(mut t) = s.seen.lock() {
            *t = Instant::now();
        }
        Some(s)
    }

    fn expire(&self, m: &mut HashMap<String, Arc<Session>>) {
        m.retain(|_, s| {
            let idle = s.seen.lock().map(|t| t.elapsed()).unwrap_or(self.idle);
            idle < self.idle && s.created.elapsed() < self.longest
        });
    }

    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(token);
        }
    }
}

/// The session token of a `Cookie:` header value.
pub fn token_of(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v)
    })
}

pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_only_in_their_cookie_and_sessions_are_kept_apart() {
        let s = Sessions::default();
        let (t1, a) = s.create();
        let (t2, b) = s.create();
        assert_ne!(t1, t2);
        assert_ne!(a.csrf, b.csrf);
        assert!(Arc::ptr_eq(&s.get(&t1).unwrap(), &a));
        let header = format!("x=1; {COOKIE}={t2}; y=2");
        assert_eq!(token_of(&header), Some(t2.as_str()));
        assert_eq!(token_of(&format!("{COOKIE}=zz{}", &t2[2..])), None);
        assert_eq!(token_of("other=1"), None);
        s.remove(&t1);
        assert!(s.get(&t1).is_none());
        assert!(set_cookie(&t2).contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let idle = Sessions::with_limits(Duration::from_millis(50), LONGEST);
        let (t, _) = idle.create();
        std::thread::sleep(Duration::from_millis(20));
        assert!(idle.get(&t).is_some(), "seen in time: kept");
        std::thread::sleep(Duration::from_millis(80));
        assert!(idle.get(&t).is_none(), "idle too long: gone");
        let old = Sessions::with_limits(IDLE, Duration::from_millis(50));
        let (t, _) = old.create();
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(20));
            let _ = old.get(&t);
        }
        assert!(old.get(&t).is_none(), "too old, however busy: gone");
    }
}
