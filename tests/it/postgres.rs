//! A real database on the shared volume (issue "Shared disks that are never mounted twice",
//! test 5, and the PGSQL type of "Service types"): Debian's PostgreSQL with its data
//! directory on the volume, behind the floating address, run by SureHA's own PGSQL scripts. A client in its own namespace commits numbered rows and remembers each
//! acknowledged commit; the node running the database crashes (every process killed, cables
//! out, mounts gone), alternately alpha and beta. After each takeover every acknowledged row
//! must be there, and the volume (so the database) is never on both nodes.
//!
//! `PG_FAILOVERS` sets the number of crashes (20 in `make test`; `make pg-long` runs 100).
//!
//! What one kernel hides: both "servers" share this kernel's page cache. A real crash loses
//! what was written but not yet on the disk; here the crashed node's file system is unmounted
//! after its processes die, which writes that out. PostgreSQL acknowledges a commit only
//! after fsync, so acknowledged rows are on the device either way; what this test cannot show
//! is a database that trusted unsynced writes.

use crate::disk_rig::*;
use crate::harness::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn pg_bin() -> String {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("postgresql must be installed (apt-get install postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("no /usr/lib/postgresql/*/bin/pg_ctl")
        .display()
        .to_string()
}

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// initdb on the volume, from this test's own mount namespace (the nodes' are private).
pub(crate) fn prepare_database(rig: &DiskRig, bin: &str) {
    rig.with_volume(|tmp| {
        sh(&format!(
            "mkdir -p {tmp}/pgdata && chown postgres:postgres {tmp}/pgdata && chmod 700 {tmp}/pgdata"
        ));
        sh(&format!(
            "cd / && runuser -u postgres -- {bin}/initdb -D {tmp}/pgdata -A trust -U postgres > /dev/null"
        ));
        sh(&format!(
            "cat >> {tmp}/pgdata/postgresql.conf <<'EOF'\nlisten_addresses = '*'\nport = 5432\nunix_socket_directories = ''\nshared_buffers = 16MB\nmax_connections = 20\nfsync = on\nsynchronous_commit = on\nEOF\necho 'host all all 192.0.2.0/24 trust' >> {tmp}/pgdata/pg_hba.conf"
        ));
    });
}

/// The client: commits numbered rows over the floating address, one psql a commit.
struct Client {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(u64, Instant)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn psql(ns: &str, sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "psql", "-h", VIP, "-U", "postgres", "-Atqc", sql,
        ])
        .env("PGCONNECT_TIMEOUT", "1")
        .output()
}

impl Client {
    fn start(ns: &str) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a, ns) = (Arc::clone(&stop), Arc::clone(&acked), ns.to_string());
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(1800);
            let mut n = 0u64;
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                n += 1;
                // A number is never tried twice: one that failed may or may not be there.
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS t (n bigint primary key); INSERT INTO t VALUES ({n})"
                );
                match psql(&ns, &sql) {
                    Ok(o) if o.status.success() => a.lock().unwrap().push((n, Instant::now())),
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Client {
            stop,
            acked,
            handle: Some(handle),
        }
    }

    fn acked(&self) -> Vec<(u64, Instant)> {
        self.acked.lock().unwrap().clone()
    }

    fn wait_ack_after(&self, t: Instant, limit: Duration) -> Option<Instant> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(x) = self.acked().iter().map(|a| a.1).find(|&at| at > t) {
                return Some(x);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn postgresql_on_the_shared_volume_loses_no_acknowledged_commit_across_crashes() {
    let rounds: usize = std::env::var("PG_FAILOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let bin = pg_bin();
    // Type PGSQL: SureHA's own pgsql_start.sh, pgsql_stop.sh and ha_ag_pgsql.sh (a real
    // query) run the database on the volume.
    let c = DiskCluster::new(
        "200ms",
        &format!("type = PGSQL\npath = @MOUNT@/pgdata\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 1s\nstart_timeout = 60s\n"),
    );
    prepare_database(&c.rig, &bin);
    c.start_all();
    c.alpha.ok(&["service", "bringin", "db"]);
    c.wait_words("db", "ACTIVE", "STANDBY", Duration::from_secs(60));
    let client = Client::start(&c.topo.ns("c"));
    assert!(
        client
            .wait_ack_after(
                Instant::now() - Duration::from_secs(1),
                Duration::from_secs(30)
            )
            .is_some(),
        "the client commits through the floating address"
    );
    let watch = MountWatch::start(&c);
    let mut outages = Vec::new();
    let mut on = "alpha";
    for round in 1..=rounds {
        let other = if on == "alpha" { "beta" } else { "alpha" };
        // Some commits on this node first.
        let before = client.acked().len();
        let until = Instant::now() + Duration::from_secs(30);
        while client.acked().len() < before + 5 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let crash = Instant::now();
        c.crash_node(on);
        let last_before = client
            .acked()
            .iter()
            .map(|a| a.1)
            .filter(|&t| t <= crash)
            .max()
            .unwrap_or(crash);
        let back = client
            .wait_ack_after(crash, Duration::from_secs(90))
            .unwrap_or_else(|| panic!("round {round}: no commit after crashing {on}"));
        outages.push(back.duration_since(last_before));
        // Every acknowledged row is there.
        let acked: Vec<u64> = client.acked().iter().map(|a| a.0).collect();
        // The client's own commit went through; this check's single connection may still
        // meet a loaded machine (1 s connect timeout): a few tries, bounded.
        let mut out = psql(&c.topo.ns("c"), "SELECT n FROM t").unwrap();
        for _ in 0..9 {
            if out.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            out = psql(&c.topo.ns("c"), "SELECT n FROM t").unwrap();
        }
        assert!(out.status.success(), "round {round}: {out:?}");
        let present: BTreeSet<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let lost: Vec<&u64> = acked.iter().filter(|n| !present.contains(n)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged rows lost after {on} crashed: {lost:?}"
        );
        assert!(matches!(
            c.node(other).state("db").as_str(),
            "ACTIVE" | "ACTIVESTB" | "ACTIVEACT"
        ));
        // The crashed node comes back and stands by.
        c.revive(on);
        c.node(on).wait_for(
            "the revived node to stand by",
            Duration::from_secs(60),
            || c.node(on).state("db") == "STANDBY",
        );
        eprintln!(
            "round {round}: {on} crashed, {other} took over; outage {:?}; {} rows acknowledged, all present",
            outages.last().unwrap(),
            acked.len()
        );
        on = other;
    }
    let (samples, both) = watch.finish();
    assert_eq!(
        both, 0,
        "mounted on both nodes in {both} of {samples} samples"
    );
    let mut sorted = outages.clone();
    sorted.sort();
    eprintln!(
        "{rounds} crashes: median client outage {:?} (min {:?}, max {:?}); {} rows acknowledged; {samples} mount samples, never on both nodes",
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
        client.acked().len()
    );
    // The shipped PGSQL scripts and agent did it.
    for n in [&c.alpha, &c.beta] {
        let log = n.log();
        assert!(log.contains("pgsql_start.sh db"), "{log}");
        assert!(
            log.contains("agent ") && log.contains("ha_ag_pgsql.sh"),
            "{log}"
        );
    }
}
