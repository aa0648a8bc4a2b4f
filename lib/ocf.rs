//! An OCF resource agent named at `service create` (`agent = ocf:PROVIDER:NAME`): it must be
//! installed here, answer `meta-data` with a resource-agent description, and every parameter
//! it marks required must be given as an `ha_NAME` key. The adapters that run it are shell
//! scripts (`agents/ocf_*.sh`); this is the check before the service exists.

use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const META_DATA_LIMIT: Duration = Duration::from_secs(10);

/// The agent's program, under `OCF_ROOT` (`ha_ocf_root`, else /usr/lib/ocf).
fn program(spec: &str, root: Option<&str>) -> Option<PathBuf> {
    let mut f = spec.strip_prefix("ocf:")?.split(':');
    let (provider, name) = (f.next()?, f.next()?);
    Some(
        PathBuf::from(root.unwrap_or("/usr/lib/ocf"))
            .join("resource.d")
            .join(provider)
            .join(name),
    )
}

/// The names of the parameters a meta-data text marks `required="1"`.
pub fn required_parameters(meta: &str) -> Vec<String> {
    meta.split("<parameter")
        .skip(1)
        .filter_map(|p| {
            let tag = &p[..p.find('>')?];
            let name = tag.split("name=\"").nth(1)?.split('"').next()?;
            (tag.contains("required=\"1\"") || tag.contains("required=\"true\""))
                .then(|| name.to_string())
        })
        .collect()
}

/// The check of `service create` for `agent = ocf:...` with these `key=value` words.
pub fn check_agent(spec: &str, kvs: &[(String, String)]) -> Result<()> {
    let root = kvs
        .iter()
        .find(|(k, _)| k == "ha_ocf_root")
        .map(|(_, v)| v.as_str());
    let Some(path) = program(spec, root) else {
        return Ok(()); // the configuration's own check says what is wrong with it
    };
    let mut child = std::process::Command::new(&path)
        .arg("meta-data")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", root.unwrap_or("/usr/lib/ocf"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            Error::failed(format!(
                "refused: OCF agent {spec}: cannot run {}: {e} (Debian: resource-agents)",
                path.display()
            ))
        })?;
    // Read while it runs: a description bigger than the pipe would otherwise stall it.
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut meta = String::new();
            let _ = out.take(1 << 20).read_to_string(&mut meta);
            meta
        })
    });
    let began = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if began.elapsed() > META_DATA_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::failed(format!(
                "refused: OCF agent {spec}: {} meta-data did not answer within {}s",
                path.display(),
                META_DATA_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let meta = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    if !meta.contains("<resource-agent") {
        return Err(Error::failed(format!(
            "refused: OCF agent {spec}: {} meta-data gives no resource-agent description",
            path.display()
        )));
    }
    let missing: Vec<String> = required_parameters(&meta)
        .into_iter()
        .filter(|p| !kvs.iter().any(|(k, _)| *k == format!("ha_{p}")))
        .collect();
    if !missing.is_empty() {
        return Err(Error::failed(format!(
            "refused: OCF agent {spec} requires {}: give {}",
            missing.join(", "),
            missing
                .iter()
                .map(|p| format!("ha_{p}=..."))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn required_parameters_are_read_from_meta_data() {
        let meta = r#"<resource-agent name="x"><parameters>
<parameter name="ip" unique="1" required="1"><content type="string"/></parameter>
<parameter name="nic" required="0"></parameter>
<parameter required="true" name="state"></parameter>
</parameters></resource-agent>"#;
        assert_eq!(super::required_parameters(meta), ["ip", "state"]);
        assert!(super::required_parameters("garbage <parameter").is_empty());
    }
}
