//! The `mcastlab` binary: bad input gets a clear error, a non-zero exit, and changes nothing.

mod support;

use std::process::{Command, Output};

fn mcastlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcastlab"))
        .args(args)
        .output()
        .expect("run mcastlab")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_explains_every_command() {
    let output = mcastlab(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "demo",
        "up",
        "down",
        "status",
        "export",
        "dataplane",
        "group",
        "subscriber",
        "stats",
    ] {
        assert!(
            help.contains(command),
            "--help does not mention {command}:\n{help}"
        );
    }
}

#[test]
fn a_group_outside_224_0_0_0_4_is_refused_before_anything_runs() {
    let output = mcastlab(&["group", "add", "--node", "whatever", "10.0.0.1"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("10.0.0.1 is not a multicast group address"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_node_is_named_in_the_error() {
    require_privileges!();
    let output = mcastlab(&["group", "list", "--node", "no-such-node-mcastlab"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("unknown node 'no-such-node-mcastlab'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn dataplane_commands_on_a_node_without_a_dataplane_say_how_to_attach() {
    require_privileges!();
    let node = support::unique_name("mcl-cli");
    support::run("ip", &["netns", "add", &node]);
    let output = mcastlab(&["stats", "--node", &node]);
    let _ = Command::new("ip").args(["netns", "del", &node]).status();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no dataplane attached"),
        "{}",
        stderr(&output)
    );
}

/// The repository's `scripts/` folder.
fn scripts_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// Runs `scripts/<script>` with `args`; the kernel matrix's cache points at `cache`, a path that
/// must still not exist afterwards.
fn script(script: &str, args: &[&str], cache: &std::path::Path) -> Output {
    Command::new("bash")
        .arg(scripts_dir().join(script))
        .args(args)
        .env("MCASTLAB_KERNEL_CACHE", cache)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("could not run {script}: {err}"))
}

#[test]
fn every_script_answers_help_and_unknown_options_with_its_usage_and_does_nothing() {
    // Given: every script of scripts/, and a kernel cache path nothing has made.
    let mut scripts: Vec<String> = std::fs::read_dir(scripts_dir())
        .expect("read scripts/")
        .map(|entry| entry.expect("scripts/ entry").file_name())
        .map(|name| name.into_string().expect("UTF-8 script name"))
        .filter(|name| name.ends_with(".sh"))
        .collect();
    scripts.sort();
    assert_eq!(
        scripts,
        [
            "demo.sh",
            "kernel-matrix.sh",
            "perf.sh",
            "setup.sh",
            "test.sh",
            "two-vm-lab.sh"
        ],
        "a script was added or removed: check it answers --help"
    );
    let cache = std::env::temp_dir().join(format!("mcastlab-cli-cache-{}", std::process::id()));
    for name in &scripts {
        for help in ["--help", "-h"] {
            // When: it is asked for help.
            let output = script(name, &[help], &cache);
            // Then: usage on stdout, exit 0, nothing on stderr (no setup step ran).
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} {help}: {}",
                stderr(&output)
            );
            assert!(
                stdout.starts_with(&format!("usage: scripts/{name}")),
                "{name} {help} printed:\n{stdout}"
            );
            assert_eq!(stderr(&output), "", "{name} {help} wrote to stderr");
        }
        // When: it gets an option it does not know.
        let output = script(name, &["--bogus"], &cache);
        // Then: usage on stderr, exit 2, nothing on stdout.
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name} --bogus: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).starts_with(&format!("usage: scripts/{name}")),
            "{name} --bogus wrote:\n{}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{name} --bogus wrote to stdout");
    }
    assert!(
        !cache.exists(),
        "a script made the kernel cache {} while only printing its usage",
        cache.display()
    );
}
