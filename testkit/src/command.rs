//! Running `ip` and other commands from tests.

use std::process::Command;

/// Runs `program` with `args`; panics with its stderr unless it succeeds. Returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("could not start {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `ip` with `args` (as [`run`]).
pub fn ip(args: &[&str]) -> String {
    run("ip", args)
}
