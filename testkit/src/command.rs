//! Running `ip` and other commands from tests.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

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

/// Runs `commands` in namespace `netns` with one `<program> -n NETNS -batch -` (`program` is
/// `ip` or `tc`, a command a line, without the program's name): one process for a thousand
/// links. Panics with its stderr unless every command succeeds.
///
/// iproute2 keeps the file of every namespace a batch command names (`netns NAME`) open until
/// the batch ends, so a thousand such commands need more than the common soft limit of 1024
/// open files: the limit is raised to the hard limit first (the child inherits it).
pub fn batch(program: &str, netns: &str, commands: &[String]) {
    raise_open_file_limit();
    let mut child = Command::new(program)
        .args(["-n", netns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("could not start {program}: {err}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    for command in commands {
        writeln!(stdin, "{command}").unwrap_or_else(|err| panic!("writing to {program}: {err}"));
    }
    drop(stdin);
    let output = child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("waiting for {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} -n {netns} -batch failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Raises this process's soft limit of open files to its hard limit.
fn raise_open_file_limit() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit(RLIMIT_NOFILE)");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit(RLIMIT_NOFILE)");
    }
}
