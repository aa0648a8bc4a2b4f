//! `make demo`: the two-node failover, narrated. Not a test (it asserts little and prints a
//! lot); run with `--ignored --nocapture` as root.

use crate::harness::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn say(text: &str) {
    println!("{text}");
}

fn show(node: &Node) {
    for l in node.ok(&["status"]).lines() {
        println!("      {l}");
    }
}

/// "alpha for 1.2 s, nothing for 312 ms, then beta" from the probe's samples after `since`.
fn client_view(p: &Probe, since: Instant) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(Option<String>, Instant, Instant)> = None;
    for s in p.samples().into_iter().filter(|s| s.at >= since) {
        match &mut run {
            Some((who, _, end)) if *who == s.who => *end = s.at,
            _ => {
                if let Some((who, start, end)) = run.take() {
                    parts.push(describe(&who, end - start));
                }
                run = Some((s.who.clone(), s.at, s.at));
            }
        }
    }
    if let Some((who, start, end)) = run {
        parts.push(describe(&who, end - start));
    }
    parts.join(", then ")
}

fn describe(who: &Option<String>, d: Duration) -> String {
    let ms = d.as_millis();
    match who {
        Some(w) => format!("{w} answered ({ms} ms)"),
        None => format!("NOTHING answered for {ms} ms"),
    }
}

/// Until both nodes have said whether they could run 'web' (a few seconds after start).
fn wait_ready(n: &Node) {
    n.wait_for("READY records", T, || {
        n.ok(&["status"]).matches("READY web ").count() == 2
    });
}

#[test]
#[ignore]
fn demo() {
    say("\n=== SureHA demo: a two-node failover, in network namespaces on this machine ===\n");
    say("Nodes alpha (192.0.2.1) and beta (192.0.2.2) and a client (192.0.2.10) share a public");
    say("network; alpha and beta also have a private heartbeat link (198.51.100.0/24, 100 ms");
    say("heartbeats, down after 3 missed). Service 'web' answers on the floating address");
    say("192.0.2.100:8080 with the name of the node that runs it.\n");
    let c = NsCluster::new(&ns_config("100ms", &web_service("")));
    say("1. SureHA starts on both nodes (hamond on each); they find each other:");
    c.start();
    show(&c.alpha);
    say("\n2. The administrator brings 'web' into protection (haadm service bringin web):");
    c.alpha.ok(&["service", "bringin", "web"]);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    probe.wait_for("alpha", T);
    show(&c.alpha);
    say("   The client asks 192.0.2.100:8080 every 10 ms.");
    say("\n   Would beta take over if alpha died now? (haadm why web, on beta):");
    wait_ready(&c.beta);
    for l in c.beta.ok(&["why", "web"]).lines() {
        println!("      {l}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    say("\n3. alpha crashes: every SureHA process killed with -9, its network cables pulled.");
    c.crash("alpha");
    probe.wait_for("beta", T);
    std::thread::sleep(Duration::from_millis(500));
    say(&format!(
        "   The client saw: {}.",
        client_view(&probe, t0 - Duration::from_millis(200))
    ));
    say(&format!(
        "   Longest time without an answer: {} ms. beta says:",
        probe.outage_since(t0).as_millis()
    ));
    show(&c.beta);
    say("\n4. alpha comes back. With switchback = no, 'web' stays on beta, which is now its");
    say("   active server; alpha stands by:");
    c.revive("alpha");
    c.wait_words("web", "STANDBY", "ACTIVE", T);
    show(&c.alpha);
    say("\n5. A planned move back (haadm service failover web, on beta):");
    let t1 = Instant::now();
    c.beta.ok(&["service", "failover", "web"]);
    probe.wait_for("alpha", T);
    std::thread::sleep(Duration::from_millis(300));
    say(&format!(
        "   The client saw: {}.",
        client_view(&probe, t1 - Duration::from_millis(100))
    ));
    if std::env::var_os("SHOW_SAMPLES").is_some() {
        for s in probe
            .samples()
            .iter()
            .filter(|s| s.at >= t1 && s.who.as_deref() != Some("alpha"))
            .take(40)
        {
            println!(
                "      +{:>4} ms {:?} {}",
                (s.at - t1).as_millis(),
                s.who,
                s.how
            );
        }
    }
    show(&c.alpha);
    say("\n6. A drill, to know before the night it matters: to beta and back, timed, with a");
    say("   client's probe (haadm drill web 192.0.2.100:8080, on alpha):");
    wait_ready(&c.alpha);
    for l in c.alpha.ok(&["drill", "web", "192.0.2.100:8080"]).lines() {
        println!("      {l}");
    }
    say("\n7. Cleaning up: SureHA stopped, namespaces removed. Logs were in each node's");
    say("   $HAHOME/etc/sureha.log; the last lines of beta's:");
    for l in c
        .beta
        .log()
        .lines()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        println!("      {l}");
    }
    say("");
}
