//! NewPass — create the first administrator of this node's admin door.
//!
//! Synopsis: `NewPass` — asks for the user, the password and the password again (from the
//! terminal, the passwords without echo; or three lines of standard input). Refuses when
//! `etc/passwd` already has a user (use SetPass). Then, as the manual advises, it deletes
//! itself from `$HAHOME/bin`: keep a copy somewhere safe.
//!
//! Exit status: 0 done, 1 refused or failed, 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    if args.len() > 1 {
        return Err(Error::usage("usage: NewPass (asks for user and password)"));
    }
    let home = Home::from_env();
    if !sureha::auth::load_passwd(&home)?.is_empty() {
        return Err(Error::failed(format!(
            "{} already has a user; SetPass changes a password or adds a user",
            home.passwd().display()
        )));
    }
    let (user, password) = sureha::auth::ask_user_and_password()?;
    let u = sureha::auth::User::new(&user, &password, sureha::auth::ITERATIONS);
    sureha::auth::save_passwd(&home, &[u])?;
    println!("user {user} created in {}", home.passwd().display());
    // The program that made the first user goes: keep a copy somewhere safe.
    // Only the copy in $HAHOME/bin (as invoked, so a symlink goes, not what it points to).
    let me = std::path::PathBuf::from(&args[0]);
    let target = if me.components().count() > 1 {
        me
    } else {
        home.bin().join("NewPass")
    };
    let in_bin = target
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .zip(std::fs::canonicalize(home.bin()).ok())
        .is_some_and(|(a, b)| a == b);
    if !in_bin {
        println!(
            "{} is not in {}: not deleting it",
            target.display(),
            home.bin().display()
        );
        return Ok(());
    }
    match std::fs::remove_file(&target) {
        Ok(()) => println!(
            "{} deleted itself (keep a copy somewhere safe)",
            target.display()
        ),
        Err(e) => println!(
            "could not delete {}: {e}; delete it by hand",
            target.display()
        ),
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("NewPass", run(&args))
}
