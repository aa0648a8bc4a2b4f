//! The cluster's authentication keys: `$HAHOME/etc/authkey`, and during a change of key the
//! next and previous ones beside it. Read by the link processes, hasvrd, hamond and havol.

use crate::error::{Error, Result};
use crate::paths::Home;
use crate::sys;

/// The authentication key, `$HAHOME/etc/authkey`. Without it there is no cluster traffic at
/// all (frames could be forged), so a missing, empty or world-readable key is a configuration
/// error that says how to fix it.
pub fn load_key(home: &Home) -> Result<Vec<u8>> {
    let path = home.authkey();
    let shown = path.display();
    let mode = match sys::mode_of(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::config(format!(
                "{shown} is missing: heartbeats cannot be authenticated, so this node takes no \
                 part in the cluster; 'make install' creates one (or run: umask 077; od -An -tx1 \
                 -N32 /dev/urandom | tr -d ' \\n' > {shown}), then copy it to the other server"
            )))
        }
        Err(e) => return Err(Error::config(format!("cannot read {shown}: {e}"))),
    };
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{shown} is readable by others (mode {mode:o}); run: chmod 600 {shown}"
        )));
    }
    let text = crate::files::read_regular(&path, 4096)
        .map_err(|e| Error::config(format!("cannot read {shown}: {e}")))?;
    let key: Vec<u8> = text.trim_ascii().to_vec();
    if key.is_empty() {
        return Err(Error::config(format!("{shown} is empty")));
    }
    Ok(key)
}

/// The authkey, and the keys also taken during a change of key (etc/authkey.next and
/// etc/authkey.prev, when present and sound; `engine::keys`).
pub fn load_keys(home: &Home) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let key = load_key(home)?;
    let also = ["next", "prev"]
        .iter()
        .filter_map(|ext| {
            let path = home.authkey().with_extension(ext);
            let mode = sys::mode_of(&path).ok()?;
            let text = crate::files::read_regular(&path, 4096).ok()?;
            let k = text.trim_ascii().to_vec();
            (mode & 0o077 == 0 && !k.is_empty()).then_some(k)
        })
        .collect();
    Ok((key, also))
}
