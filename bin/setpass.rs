//! SetPass — set an administrator's password of this node's admin door (root, locally).
//!
//! Synopsis: `SetPass` — asks for the user, the new password and the password again (from
//! the terminal, the passwords without echo; or three lines of standard input). A user not
//! yet in `etc/passwd` is added.
//!
//! Exit status: 0 done, 1 refused or failed, 2 usage.

use sureha::error::{exit_with, Error, Result};
use sureha::paths::Home;

fn run(args: &[String]) -> Result<()> {
    if args.len() > 1 {
        return Err(Error::usage("usage: SetPass (asks for user and password)"));
    }
    let home = Home::from_env();
    let mut users = sureha::auth::load_passwd(&home)?;
    let (user, password) = sureha::auth::ask_user_and_password()?;
    let u = sureha::auth::User::new(&user, &password, sureha::auth::ITERATIONS);
    let what = match users.iter_mut().find(|x| x.name == user) {
        Some(x) => {
            *x = u;
            "password changed"
        }
        None => {
            users.push(u);
            "user added"
        }
    };
    sureha::auth::save_passwd(&home, &users)?;
    println!("{user}: {what} in {}", home.passwd().display());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("SetPass", run(&args))
}
