//! The graphical console (DESIGN §11, issue "The graphical console of the manual"): haconsole
//! and Debian's headless Chromium, driven through chromedriver, in the client's namespace,
//! against two nodes in theirs. Each step of the "done when" is checked on the page
//! a person would see, and saved as a screenshot under `$CARGO_TARGET_TMPDIR/console/`.

use crate::harness::*;
use crate::webdriver::{http, Browser};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "console-secret";
const CONSOLE_PORT: u16 = 7012;

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shots() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether the page paints (and names) `svc` on `node` as `class`.
fn shows(svc: &str, node: &str, class: &str) -> String {
    format!("(() => {{ const e = document.querySelector('[data-service=\"{svc}\"][data-node=\"{node}\"]'); return !!e && e.dataset.class === '{class}' && e.innerText.length > 0; }})()")
}

fn messages_with(level: &str, text: &str) -> String {
    format!("[...document.querySelectorAll('#messages [data-level=\"{level}\"]')].some(e => e.innerText.includes({text:?}))")
}

fn both(a: &str, b: &str) -> String {
    format!("({a}) && ({b})")
}

fn link_is(state: &str) -> String {
    format!("(() => {{ const l = document.querySelector('[data-link=\"priv\"]'); return !!l && l.dataset.state === '{state}' && l.innerText.includes('{state}'); }})()")
}

/// Waits for web gold on `active` and green on `standby`, once both nodes say so, and
/// prints how long the page took.
fn swapped(b: &Browser, what: &str, active: &str, standby: &str) {
    let seen = b.wait(
        &format!("web gold on {active} and green on {standby}"),
        Duration::from_secs(5),
        &both(
            &shows("web", active, "active"),
            &shows("web", standby, "standby"),
        ),
    );
    println!(
        "console: {what} shown {} ms after both nodes said so",
        seen.as_millis()
    );
}

/// Opens a menu of the menu bar (Tools, PrivateNet, Service, Help) and chooses an item.
fn menu(b: &Browser, name: &str, act: &str) {
    let n = ["Tools", "PrivateNet", "Service", "Help"]
        .iter()
        .position(|m| *m == name)
        .expect("a menu of the page")
        + 1;
    b.click(&format!("#menus details:nth-of-type({n}) summary"));
    b.click(&format!("#menus [data-act=\"{act}\"]"));
}

fn icon(node: &str) -> String {
    format!("document.querySelector('.server[data-node=\"{node}\"]').dataset.icon")
}

fn background(css: &str) -> String {
    format!("return getComputedStyle(document.querySelector('{css}')).backgroundColor;")
}

#[test]
fn the_console_connects_shows_the_cluster_and_drives_it_in_a_real_browser() {
    let c = NsCluster::new(&ns_config("200ms", &web_service("")));
    for n in [&c.alpha, &c.beta] {
        let r = with_stdin(
            n.cmd("NewPass"),
            &format!("admin\n{PASSWORD}\n{PASSWORD}\n"),
        );
        assert_eq!(r.code, 0, "{r:?}");
    }
    c.start();
    let client = c.topo.ns("c");
    let console = Console(
        Command::new("ip")
            .args(["netns", "exec", &client])
            .arg(env!("CARGO_BIN_EXE_haconsole"))
            .args(["-g", concat!(env!("CARGO_MANIFEST_DIR"), "/gui")])
            .args(["-l", &format!("127.0.0.1:{CONSOLE_PORT}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{CONSOLE_PORT}/");
    let b = Browser::start(&client, 9515, 1280, 800);
    let dir = shots();
    let began = Instant::now();
    loop {
        let (status, _, _) = http(&client, CONSOLE_PORT, "GET", "/", &[], "");
        if status == 200 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "haconsole did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The peer's door too: wait until both doors listen.
    c.alpha
        .wait_for("alpha's door", Duration::from_secs(15), || {
            c.alpha.log().contains("admin door: listening")
                && c.beta.log().contains("admin door: listening")
        });
    b.goto(&url);
    let s = Duration::from_secs(5);

    // 1. A wrong password is refused; the right one shows both servers, the cable green, the
    //    NICs, and the service grey (out of protection).
    b.wait(
        "the Connect form",
        s,
        "document.querySelector('#connect-dialog').open",
    );
    b.fill("#connect-host", "192.0.2.2");
    b.fill("#connect-password", "not-the-password");
    b.click("#connect-ok");
    b.wait(
        "the refusal",
        s,
        "document.querySelector('#connect-error').innerText.includes('wrong user or password')",
    );
    b.screenshot(&dir.join("1a-wrong-password.png"));
    b.fill("#connect-password", PASSWORD);
    b.click("#connect-ok");
    b.wait("both servers", Duration::from_secs(15), "document.querySelector('.server[data-node=\"alpha\"]') && document.querySelector('.server[data-node=\"beta\"]')");
    b.wait("the cable OK", s, &link_is("OK"));
    assert_eq!(
        b.js(&background("[data-link=\"priv\"] .wire")),
        "rgb(46, 139, 58)",
        "green cable"
    );
    b.wait(
        "the NICs",
        s,
        "document.querySelectorAll('[data-nic=\"eth0\"][data-state=\"OK\"]').length === 2",
    );
    b.wait("web out of protection", s, &shows("web", "alpha", "out"));
    b.wait(
        "web out of protection on beta too",
        s,
        &shows("web", "beta", "out"),
    );
    assert_eq!(
        b.js(&background("[data-service=\"web\"][data-node=\"alpha\"]")),
        "rgb(138, 143, 150)",
        "grey"
    );
    b.wait(
        "the login in the message bar",
        s,
        &messages_with("INFO", "connected to beta"),
    );
    b.screenshot(&dir.join("1b-connected.png"));

    // 2. Bring In from the toolbar: gold on alpha, green on beta within a second of the
    //    cluster saying so; Fail Over, chosen with the keyboard: they swap.
    b.click("[data-service=\"web\"][data-node=\"alpha\"]");
    b.click("#tb-bringin");
    c.alpha.wait_state("web", "ACTIVE", Duration::from_secs(20));
    c.beta.wait_state("web", "STANDBY", Duration::from_secs(10));
    swapped(&b, "BringIn", "alpha", "beta");
    assert_eq!(
        b.js(&background("[data-service=\"web\"][data-node=\"alpha\"]")),
        "rgb(200, 150, 12)",
        "gold"
    );
    assert_eq!(
        b.js(&background("[data-service=\"web\"][data-node=\"beta\"]")),
        "rgb(46, 139, 58)",
        "green"
    );
    b.wait(
        "the server icons",
        s,
        &format!(
            "{} === 'active' && {} === 'standby'",
            icon("alpha"),
            icon("beta")
        ),
    );
    b.screenshot(&dir.join("2a-brought-in.png"));
    b.keys("[data-service=\"web\"][data-node=\"alpha\"]", "\u{E007}");
    b.keys("#tb-failover", "\u{E007}");
    c.beta.wait_state("web", "ACTIVE", Duration::from_secs(20));
    c.alpha
        .wait_state("web", "STANDBY", Duration::from_secs(10));
    swapped(&b, "FailOver", "beta", "alpha");
    b.wait(
        "INFO lines of both operations",
        s,
        &both(
            &messages_with("INFO", "bringin web"),
            &messages_with("INFO", "failover web"),
        ),
    );
    b.screenshot(&dir.join("2b-failed-over.png"));

    // 3. The private cable cut: red, with an ERROR; back: green.
    c.topo.set_link("alpha", "priv0", false);
    b.wait("the cable red", Duration::from_secs(10), &link_is("ERR"));
    b.wait(
        "an ERROR about it",
        s,
        &messages_with("ERROR", "private network down"),
    );
    b.screenshot(&dir.join("3a-cable-cut.png"));
    c.topo.set_link("alpha", "priv0", true);
    b.wait(
        "the cable green again",
        Duration::from_secs(10),
        &link_is("OK"),
    );
    b.screenshot(&dir.join("3b-cable-back.png"));

    // 5. The create form: a bad value gets the parser's own words at its field; fixed, the
    //    service appears.
    menu(&b, "Service", "create-service");
    b.wait(
        "the create form",
        s,
        "document.querySelector('#form-dialog').open && document.querySelector('#field-start')",
    );
    b.fill("#field-name", "db");
    b.fill("#field-start", "demo-web.start");
    b.fill("#field-stop", "demo-web.stop");
    b.fill("#field-check_interval", "fast");
    b.click("#form-ok");
    let keys = sureha::forms::service_keys("alpha", Some("beta"));
    let given: Vec<(String, String)> = [
        ("start", "demo-web.start"),
        ("stop", "demo-web.stop"),
        ("check_interval", "fast"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (_, errors) = sureha::forms::check_form("service", "service", "db", &keys, &given);
    let expected = &errors
        .iter()
        .find(|(k, _)| k == "check_interval")
        .expect("the CLI's check refuses it")
        .1;
    b.wait(
        "the field's error",
        s,
        &format!(
            "document.querySelector('[data-error=\"check_interval\"]').innerText === {expected:?}"
        ),
    );
    b.screenshot(&dir.join("5a-bad-value.png"));
    b.fill("#field-check_interval", "2s");
    b.click("#form-ok");
    b.wait(
        "the new service",
        Duration::from_secs(10),
        &shows("db", "alpha", "out"),
    );
    assert!(c.alpha.ok(&["status"]).contains("SERVICE db USERDEF"));
    b.screenshot(&dir.join("5b-created.png"));

    // The other forms and tools: a license checked field by field, AutoGet, the lock.
    menu(&b, "Tools", "license");
    b.wait(
        "the license form",
        s,
        "document.querySelector('#license-dialog').open",
    );
    b.fill("#license-form [name=host]", "alpha");
    b.fill("#license-form [name=serial]", "SN-1");
    b.fill("#license-form [name=expiration]", "2026-13-45");
    b.fill("#license-form [name=license]", "K-1");
    b.click("#license-form [type=submit]");
    b.wait("the expiration's error", s, "document.querySelector('#license-form [data-error=expiration]').innerText.includes('not a date YYYY-MM-DD or never')");
    b.screenshot(&dir.join("5c-license-form.png"));
    b.fill("#license-form [name=expiration]", "never");
    b.click("#license-form [type=submit]");
    b.wait(
        "the stored license",
        s,
        "document.querySelector('#license-list').innerText.includes('LICENSE alpha SN-1 never OK')",
    );
    b.click("#license-dialog [data-close]");
    menu(&b, "Tools", "network");
    b.wait("every NIC (AutoGet)", s, "document.querySelector('#text-dialog').open && document.querySelector('#text-body').innerText.includes('NIC beta eth0 OK')");
    b.click("#text-dialog [data-close]");
    b.click("#tb-lock");
    b.wait("the lock", s, "!document.querySelector('#locked').hidden && document.querySelector('#locked').innerText.includes('LOCKED by admin@')");
    // The lock travels with the beats: alpha has it too before a change is asked of it.
    c.alpha.wait_for("the lock on alpha", s, || {
        c.alpha.ok(&["status"]).contains("LOCKED admin@")
    });
    b.click("[data-service=\"db\"][data-node=\"alpha\"]");
    b.click("#tb-bringin");
    b.wait(
        "the refusal under the lock",
        s,
        &messages_with("ERROR", "locked by admin@"),
    );
    b.screenshot(&dir.join("5d-locked.png"));
    b.click("#tb-lock");
    b.wait(
        "the lock gone",
        s,
        "document.querySelector('#locked').hidden",
    );

    // 6. Without a session, or without the CSRF token, or from another site: nothing changes.
    let before = c.beta.state("web");
    let op = "verb=bringout&service=web&node=beta";
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let (st, _, body) = http(&client, CONSOLE_PORT, "POST", "/api/op", &[form], op);
    assert_eq!(st, 401, "{body}");
    let (_, head, _) = http(&client, CONSOLE_PORT, "GET", "/", &[], "");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let (_, _, session) = http(
        &client,
        CONSOLE_PORT,
        "GET",
        "/api/session",
        &[("Cookie", &cookie)],
        "",
    );
    let csrf = serde_json::from_str::<serde_json::Value>(&session).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _, body) = http(
        &client,
        CONSOLE_PORT,
        "POST",
        "/api/op",
        &[form, ("Cookie", &cookie)],
        op,
    );
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (st, _, body) = http(
        &client,
        CONSOLE_PORT,
        "POST",
        "/api/op",
        &[
            form,
            ("Cookie", &cookie),
            ("X-SureHA-CSRF", &csrf),
            ("Origin", "http://evil.example"),
        ],
        op,
    );
    assert_eq!(st, 403, "{body}");
    // The browser's own session, token and all, is of no use to another page's fetch.
    let st = b.js("return fetch('/api/op', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'verb=bringout&service=web&node=beta'}).then(r => r.status);");
    assert_eq!(st, 403);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        c.beta.state("web"),
        before,
        "a refused request changed nothing"
    );
    assert!(
        !c.beta.log().contains("haadm service bringout"),
        "no bring-out reached a node"
    );

    // 4. The active node (beta, whose door the console logged in to first) crashes: the page
    //    shows the takeover on alpha, through alpha's door.
    c.crash("beta");
    b.wait(
        "the takeover on alpha",
        Duration::from_secs(20),
        &shows("web", "alpha", "active"),
    );
    b.wait("beta down", s, &format!("{} === 'down'", icon("beta")));
    b.wait(
        "the lost door said",
        s,
        &messages_with("ERROR", "lost the admin door of beta"),
    );
    b.screenshot(&dir.join("4-takeover.png"));

    // On a phone: the same page, nothing wider than the screen.
    b.resize(390, 844);
    b.wait(
        "a phone-sized page",
        s,
        "document.documentElement.scrollWidth <= window.innerWidth",
    );
    b.screenshot(&dir.join("7-phone.png"));
    drop(b);
    drop(console);
    println!("console: screenshots in {}", dir.display());
}

/// Strangers flooding the console (idle, slow and garbage connections from forty addresses,
/// four each: more than it keeps open) neither keep a page from loading nor make it grow a
/// thread per connection; a request with endless headers is refused, not read.
#[test]
fn the_console_holds_under_a_flood_with_few_threads() {
    let topo = Topology::new();
    let ns = topo.ns("c");
    let sources: Vec<std::net::Ipv4Addr> = (150..190)
        .map(|i| std::net::Ipv4Addr::new(192, 0, 2, i))
        .collect();
    for a in &sources {
        let out = Command::new("ip")
            .args(["-n", &ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let port = 7013;
    let console = Console(
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(env!("CARGO_BIN_EXE_haconsole"))
            .args(["-g", concat!(env!("CARGO_MANIFEST_DIR"), "/gui")])
            .args(["-l", &format!("0.0.0.0:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = console.0.id();
    let threads = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let began = Instant::now();
    while crate::webdriver::try_http(&ns, port, "GET", "/", &[], "").map_or(true, |r| r.0 != 200) {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "haconsole did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let at_rest = threads();
    let target = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 10), port);
    for what in ["idle", "slow", "garbage"] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flood: Vec<_> = sources
            .iter()
            .flat_map(|&a| [a; 4])
            .map(|a| crate::door::stranger(ns.clone(), a, target, what, stop.clone()))
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        let during = threads();
        let took = Instant::now();
        let page = crate::webdriver::try_http(&ns, port, "GET", "/", &[], "");
        let took = took.elapsed();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in flood {
            let _ = t.join();
        }
        assert_eq!(
            page.as_ref().map(|p| p.0).ok(),
            Some(200),
            "{what} flood: {page:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "{what} flood: the page took {took:?}"
        );
        assert!(
            during <= at_rest + 2,
            "{what} flood of 160 connections: {during} threads (at rest {at_rest})"
        );
        eprintln!("console under an {what} flood of 160 connections from 40 addresses: the page took {took:?}, {during} threads (at rest {at_rest})");
    }
    // A request whose headers never end: refused once past the bound, from the console's
    // namespace.
    let headers: String = (0..100_000).map(|i| format!("X-{i}: y\r\n")).collect();
    let ns_path = format!("/run/netns/{ns}");
    let answer = std::thread::spawn(move || {
        sureha::sys::enter_netns(std::path::Path::new(&ns_path)).unwrap();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes());
        let mut said = Vec::new();
        let _ = s.read_to_end(&mut said);
        String::from_utf8_lossy(&said).into_owned()
    })
    .join()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
}
