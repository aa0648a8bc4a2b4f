//! The data-path watch's plan, shared by hasvrd's watch and the simulator: which volume
//! devices this node reads, how often, and when a read that has not returned counts as hung.

use crate::config::Config;

/// This node's volume devices in the configuration, in file order, each once.
pub fn devices_of(config: &Config, node: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in &config.services {
        if s.active_server != node && s.standby_server != node {
            continue;
        }
        for vol in &s.volumes {
            let d = s.device_on(vol, node);
            if !v.iter().any(|x| x == d) {
                v.push(d.to_string());
            }
        }
    }
    v
}

/// The read period and the hang limit, in ms: a read every fastest link interval (within
/// 100 ms and 2 s), and hung once a read has not returned by the shortest link deadline,
/// never sooner than two periods (a path is judged no faster than the peer would be).
pub fn watch_timing(config: &Config) -> (u64, u64) {
    let fastest = config
        .links
        .iter()
        .map(|l| l.interval)
        .min()
        .unwrap_or(1000);
    let period = fastest.clamp(100, 2000);
    let deadline = config
        .links
        .iter()
        .map(|l| l.dead_after())
        .min()
        .unwrap_or(3000);
    (period, deadline.max(2 * period))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devices_this_node_reads_and_a_limit_of_at_least_two_reads() {
        let text = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\ninterval = 50ms\nmaxmiss = 3\n\n[service a]\nactive_server = alpha\nstandby_server = beta\nstart = s\nstop = s\nvolume = /dev/sdb1 /dev/sdc1 /srv/a\nvolume = /dev/sdb2 /dev/sdc2 /srv/b\n\n[service b]\nactive_server = beta\nstandby_server = alpha\nstart = s\nstop = s\nvolume = /dev/sdc3 /dev/sdb3 /srv/c\n";
        let c = crate::config::parse("t", text).unwrap();
        assert_eq!(
            devices_of(&c, "alpha"),
            ["/dev/sdb1", "/dev/sdb2", "/dev/sdb3"]
        );
        assert_eq!(
            devices_of(&c, "beta"),
            ["/dev/sdc1", "/dev/sdc2", "/dev/sdc3"]
        );
        assert!(devices_of(&c, "gamma").is_empty());
        // 50 ms beats: reads every 100 ms, hung after 200 ms (not the 150 ms deadline).
        assert_eq!(watch_timing(&c), (100, 200));
    }
}
