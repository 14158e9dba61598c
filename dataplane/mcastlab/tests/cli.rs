//! The `mcastlab` binary: bad input gets a clear error, a non-zero exit, and changes nothing.

use std::process::{Command, Output};

use mcastlab_testkit::{Namespace, require_datapath, unique_name};

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
    require_datapath!();
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
    require_datapath!();
    let node = Namespace::new(&unique_name("cli"));
    let output = mcastlab(&["stats", "--node", node.name()]);
    drop(node);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no dataplane attached"),
        "{}",
        stderr(&output)
    );
}
