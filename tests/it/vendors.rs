//! ORACLE, SYBASE and INFORMIX (DESIGN §12): the shipped scripts and agents drive the
//! vendors' own tools (sqlplus and lsnrctl; startserver and isql; oninit, onmode and onstat).
//! Those products cannot be installed here, so the tools are small stand-ins this test
//! writes: they keep each node's server state in a file (by `HANODE`) and answer as the real
//! tools do, in the lines the scripts read (OPEN and ORA- codes; isql's `1`; onstat's
//! "-- On-Line --" banner). Each type is brought in, runs only on alpha, moves to beta when
//! alpha crashes, and its server's death there is seen by the agent.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn tool(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nSTATE={}/state-$HANODE\n{body}",
            dir.parent().unwrap().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A vendor's home with its stand-in tools; removed on drop.
struct Vendor(PathBuf);

impl Drop for Vendor {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vendor(kind: &str) -> Vendor {
    let home = std::env::temp_dir().join(format!("sureha-{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let bin = home.join("bin");
    match kind {
        "oracle" => {
            tool(
                &bin,
                "lsnrctl",
                "case $1 in start|status) exit 0 ;; stop) exit 0 ;; esac\nexit 1\n",
            );
            tool(
                &bin,
                "sqlplus",
                r#"in=$(cat)
up() { [ "$(cat "$STATE" 2>/dev/null)" = OPEN ]; }
case $in in
*startup*) if up; then echo "ORA-01081: cannot start already-running ORACLE - shut it down first"; else echo OPEN > "$STATE"; printf 'ORACLE instance started.\nDatabase mounted.\nDatabase opened.\n'; fi ;;
*shutdown*) if up; then echo DOWN > "$STATE"; printf 'Database closed.\nDatabase dismounted.\nORACLE instance shut down.\n'; else echo "ORA-01034: ORACLE not available"; fi ;;
*'v$instance'*) if up; then echo OPEN; else echo "ORA-01034: ORACLE not available"; fi ;;
esac
exit 0
"#,
            );
        }
        "sybase" => {
            let install = home.join("install");
            tool(&install, "startserver", "[ \"$1\" = -f ] && [ \"$2\" = \"RUN_$HA_SERVER_NAME\" ] || exit 1\necho UP > \"$STATE\"\n");
            tool(
                &bin,
                "isql",
                r#"in=$(cat)
[ "$(cat "$STATE" 2>/dev/null)" = UP ] || { echo "CT-LIBRARY error: ct_connect(): network packet layer: internal net library error: Net-Lib protocol driver call to connect two endpoints failed"; exit 1; }
case $in in
*'shutdown'*) echo DOWN > "$STATE"; echo "Server SHUTDOWN by request." ;;
*'select 1'*) printf '\n -----------\n           1\n\n(1 row affected)\n' ;;
esac
exit 0
"#,
            );
        }
        _ => {
            tool(
                &bin,
                "oninit",
                "[ \"$1\" = -y ] || exit 1\necho On-Line > \"$STATE\"\n",
            );
            tool(
                &bin,
                "onmode",
                "[ \"$1\" = -ky ] || exit 1\nrm -f \"$STATE\"\n",
            );
            tool(
                &bin,
                "onstat",
                r#"m=$(cat "$STATE" 2>/dev/null)
[ -n "$m" ] || { echo "shared memory not initialized for INFORMIXSERVER '$INFORMIXSERVER'"; exit 255; }
printf '\nIBM Informix Dynamic Server Version 14.10.FC9 -- %s -- Up 00:00:05 -- 160540 Kbytes\n\n' "$m"
"#,
            );
        }
    }
    Vendor(home)
}

fn keys(kind: &str, home: &Path) -> String {
    let h = home.display();
    match kind {
        "oracle" => format!("type = ORACLE\nsid = ORCL\nusername = root\nha_oracle_home = {h}\n"),
        "sybase" => {
            format!("type = SYBASE\nserver_name = SYB1\nusername = root\nha_sybase = {h}\n")
        }
        _ => format!("type = INFORMIX\nserver_name = ifx1\nusername = root\npath = {h}\n"),
    }
}

fn runs_and_moves(kind: &str) {
    let v = vendor(kind);
    let state =
        |node: &str| std::fs::read_to_string(v.0.join(format!("state-{node}"))).unwrap_or_default();
    let up = |node: &str| matches!(state(node).trim(), "OPEN" | "UP" | "On-Line");
    let c = NsCluster::new(&ns_config(
        "200ms",
        &format!("\n[service db]\nactive_server = alpha\nstandby_server = beta\ncheck_interval = 1s\nstart_timeout = 20s\n{}", keys(kind, &v.0)),
    ));
    c.start();
    assert_eq!(
        c.alpha.haadm(&["check"]).code,
        0,
        "{:?}",
        c.alpha.haadm(&["check"])
    );
    c.alpha.ok(&["service", "bringin", "db"]);
    c.wait_words("db", "ACTIVE", "STANDBY", T);
    c.alpha
        .wait_for("the server up on alpha", T, || up("alpha"));
    assert!(!up("beta"), "{kind}: not on beta");
    // The agent reports it well for a few intervals.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(c.alpha.state("db"), "ACTIVE", "{kind}: {}", c.alpha.log());
    c.crash("alpha");
    c.beta.wait_for("the takeover", T, || {
        c.beta.state("db").starts_with("ACTIVE")
    });
    c.beta.wait_for("the server up on beta", T, || up("beta"));
    // The shipped scripts and agent did it (the agent starts once the start script is done).
    c.beta.wait_for("the shipped agent", T, || {
        let log = c.beta.log();
        log.contains(&format!("{kind}_start.sh db")) && log.contains(&format!("ha_ag_{kind}.sh"))
    });
    // The server dies on beta: the agent's check fails and the service is in error there.
    let _ = std::fs::remove_file(v.0.join("state-beta"));
    c.beta.wait_for("the failure seen", T, || {
        c.beta.state("db").starts_with("ERROR")
    });
}

#[test]
fn oracle_runs_through_sqlplus_and_lsnrctl() {
    runs_and_moves("oracle");
}

#[test]
fn sybase_runs_through_startserver_and_isql() {
    runs_and_moves("sybase");
}

#[test]
fn informix_runs_through_oninit_onmode_and_onstat() {
    runs_and_moves("informix");
}
