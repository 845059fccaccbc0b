//! The text of a finished process, for assertions and their messages.

use std::process::{Command, Output};

/// stdout then stderr, as one string.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The exit status and both streams, labelled.
pub fn describe(o: &Output) -> String {
    format!("status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Run a command and echo its stdout and stderr to the test's stderr (shown
/// when the test fails); returns the output whatever the exit status.
pub fn run_echoed(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    o
}
