//! haadm's command line: the menus (no words), a drill, or one command (`admin::command`).
//! On top of the house: nothing below calls back up here.

use crate::error::Result;
use crate::paths::Home;

pub fn run(home: &Home, words: &[String]) -> Result<String> {
    match words.first().map(String::as_str) {
        None => crate::menus::run(home),
        Some("drill") => crate::drill::run(home, &words[1..]),
        Some(_) => crate::admin::command(home, words),
    }
}
