//! The `mcastlab` binary: bad input gets a clear error, a non-zero exit, and changes nothing.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use std::{
    net::Ipv4Addr,
    process::{Command, Output},
};

use mcastlab_common::Reason;
use mcastlab_testkit::{Namespace, TestNode, require_datapath, unique_name};

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
fn help_lists_every_command() {
    let output = mcastlab(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    // A command is listed on a line of its own: "  <name>  <what it does>".
    let listed: Vec<&str> = help
        .lines()
        .filter_map(|line| line.strip_prefix("  ")?.split_whitespace().next())
        .collect();
    for command in [
        "demo",
        "up",
        "down",
        "status",
        "export",
        "send",
        "recv",
        "dataplane",
        "group",
        "subscriber",
        "pod",
        "stats",
        "agent",
        "bench",
        "completions",
        "man",
    ] {
        assert!(
            listed.contains(&command),
            "--help does not list the command {command}:\n{help}"
        );
    }
}

/// Asserts that `mcastlab <command> --help` prints `phrase` and the top-level help does not:
/// the phrase can only have come from that command.
fn assert_help_of(command: &[&str], phrase: &str) {
    // Help is wrapped to the terminal: compare with whitespace collapsed.
    let flat = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let top = flat(&mcastlab(&["--help"]).stdout);
    assert!(
        !top.contains(phrase),
        "{phrase:?} is in the top-level help too; pick a phrase only `{}` prints",
        command.join(" ")
    );
    let output = mcastlab(&[command, &["--help"]].concat());
    let help = flat(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        help.contains(phrase),
        "`mcastlab {} --help` does not say {phrase:?}:\n{help}",
        command.join(" ")
    );
}

#[test]
fn each_command_help_explains_that_command() {
    for (command, phrase) in [
        (&["demo"][..], "a spy that must receive nothing"),
        (&["up"], "Namespaces: <lab>-<node> for nodes"),
        (&["down"], "The lab file `up -f` took"),
        (&["status"], "The lab; without it, every recorded lab"),
        (&["export"], "A deployed lab to export"),
        (&["send"], "Sender identity written into each probe"),
        (&["recv"], "Stop after this many distinct datagrams"),
        (
            &["dataplane", "attach"],
            "--pod-iface veth-p1=10.200.1.1,veth-p2",
        ),
        (
            &["pod", "set"],
            "mcastlab pod set --node lab-n1 veth-p1 10.200.1.7",
        ),
        (
            &["dataplane", "config"],
            "loses every membership at the next expiry",
        ),
        (&["group", "add"], "joins beyond it are refused and counted"),
        (&["subscriber", "list"], "A group address, or `all`"),
        (&["stats"], "Codes never change meaning"),
        (&["agent"], "member_pod_gone"),
        (&["bench", "fanout"], "Needs root and 2 CPUs"),
        (&["completions"], "mcastlab completions bash"),
        (&["man"], "mcastlab-group-add.1"),
    ] {
        assert_help_of(command, phrase);
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
            "fuzz.sh",
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

/// Runs mcastlab and returns its stdout, panicking with its stderr unless it succeeds.
fn stdout_of(args: &[&str]) -> String {
    let output = mcastlab(args);
    assert!(
        output.status.success(),
        "mcastlab {} failed: {}",
        args.join(" "),
        stderr(&output)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs mcastlab with `-o json` appended and parses its stdout.
fn json_of(args: &[&str]) -> serde_json::Value {
    let out = stdout_of(&[args, &["-o", "json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("not JSON ({err}):\n{out}"))
}

#[test]
fn completions_are_generated_for_each_shell() {
    let bash = stdout_of(&["completions", "bash"]);
    assert!(bash.starts_with("_mcastlab() {"), "{bash}");
    assert!(bash.contains("complete -F _mcastlab"), "{bash}");
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef mcastlab"));
    assert!(stdout_of(&["completions", "fish"]).contains("complete -c mcastlab"));
    assert!(
        stdout_of(&["completions", "elvish"]).contains("edit:completion:arg-completer[mcastlab]")
    );
    assert!(stdout_of(&["completions", "powershell"]).contains("Register-ArgumentCompleter"));
}

#[test]
fn man_prints_the_top_page_and_writes_one_page_per_command() {
    let page = stdout_of(&["man"]);
    let first: Vec<&str> = page.lines().take(3).collect();
    // clap_mangen defines the apostrophe string before the title.
    assert_eq!(
        first,
        [
            r".ie \n(.g .ds Aq \(aq",
            ".el .ds Aq '",
            r#".TH mcastlab 1  "mcastlab 0.1.0" "#
        ]
    );
    let dir = std::env::temp_dir().join(format!("mcastlab-man-{}", std::process::id()));
    let written = json_of(&["man", "--out", dir.to_str().expect("UTF-8 path")]);
    let pages: Vec<String> = written["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|page| page.as_str().expect("a path").to_owned())
        .collect();
    let group_add = std::fs::read_to_string(dir.join("mcastlab-group-add.1"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(pages.len(), 34, "{pages:?}");
    assert!(pages[0].ends_with("/mcastlab.1"), "{pages:?}");
    assert!(
        group_add
            .expect("mcastlab-group-add.1 written")
            .contains(".TH mcastlab-group-add 1"),
    );
}

#[test]
fn group_and_subscriber_commands_have_cilium_dbg_aliases() {
    for (alias, phrase) in [
        (&["group", "ls"][..], "List the configured groups"),
        (&["group", "del"], "Remove a group and all its subscribers"),
        (&["sub", "add"], "Add a remote node as a subscriber"),
        (&["sub", "ls"], "List the subscribers of a group"),
        (&["subscriber", "ls"], "List the subscribers of a group"),
        (&["sub", "del"], "Remove a subscriber (local or remote)"),
        (&["pod", "ls"], "List the pod identities of a node"),
        (&["pod", "del"], "Forget the pod behind a veth"),
    ] {
        let help = stdout_of(&[alias, &["--help"]].concat());
        assert!(
            help.contains(phrase),
            "`mcastlab {} --help` is not that command's help:\n{help}",
            alias.join(" ")
        );
    }
}

#[test]
fn every_command_that_prints_takes_output_json() {
    for command in [
        &["demo"][..],
        &["up"],
        &["down"],
        &["status"],
        &["export"],
        &["send"],
        &["recv"],
        &["dataplane", "attach"],
        &["dataplane", "detach"],
        &["dataplane", "status"],
        &["dataplane", "config"],
        &["group", "add"],
        &["group", "delete"],
        &["group", "list"],
        &["subscriber", "add"],
        &["subscriber", "delete"],
        &["subscriber", "list"],
        &["pod", "set"],
        &["pod", "delete"],
        &["pod", "list"],
        &["stats"],
        &["bench", "fanout"],
        &["bench", "control"],
        &["man"],
    ] {
        let help = stdout_of(&[command, &["--help"]].concat());
        let output_option = help
            .lines()
            .find(|line| line.trim_start().starts_with("-o, --output <OUTPUT>"))
            .unwrap_or_else(|| panic!("`{}` has no -o/--output:\n{help}", command.join(" ")));
        assert!(
            help.contains("json"),
            "`{}` does not offer json ({output_option}):\n{help}",
            command.join(" ")
        );
    }
}

#[test]
fn export_prints_the_containerlab_document_as_json() {
    let document = json_of(&["export", "--name", "clijson", "--nodes", "1", "--pods", "1"]);
    assert_eq!(document["name"], "clijson");
    let mut nodes: Vec<&String> = document["topology"]["nodes"]
        .as_object()
        .expect("topology.nodes")
        .keys()
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n1-p1", "ul"]);
}

/// The long options `mcastlab <command> --help` lists.
fn long_options(command: &[&str]) -> Vec<String> {
    let help = stdout_of(&[command, &["--help"]].concat());
    help.lines()
        .filter_map(|line| {
            let option = line
                .trim_start()
                .split(", ")
                .last()?
                .split_whitespace()
                .next()?;
            // A repeatable flag is listed as `--verbose...`.
            option
                .starts_with("--")
                .then(|| option.trim_end_matches("...").to_owned())
        })
        .filter(|option| option != "--help" && option != "--version")
        .collect()
}

#[test]
fn scripts_that_forward_options_accept_exactly_their_command_options() {
    for (name, command) in [
        ("demo.sh", &["demo"][..]),
        ("perf.sh", &["bench", "fanout"]),
    ] {
        let text = std::fs::read_to_string(scripts_dir().join(name)).expect("read script");
        let list = text
            .lines()
            .find_map(|line| line.strip_prefix("OPTIONS=\""))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{name} has no OPTIONS=\"...\" line"));
        let mut accepted: Vec<&str> = list.split(' ').filter(|o| o.starts_with("--")).collect();
        accepted.sort_unstable();
        let mut options = long_options(command);
        options.sort();
        assert_eq!(
            accepted,
            options,
            "{name}'s OPTIONS and `mcastlab {} --help` differ",
            command.join(" ")
        );
    }
}

/// Runs mcastlab and returns its stderr, panicking unless it succeeds.
fn stderr_of(args: &[&str]) -> String {
    let output = mcastlab(args);
    assert!(
        output.status.success(),
        "mcastlab {} failed: {}",
        args.join(" "),
        stderr(&output)
    );
    stderr(&output)
}

#[test]
fn v_shows_what_aya_logs_while_loading() {
    require_datapath!();
    // Given: a node with its dataplane attached.
    let node = TestNode::new(1);
    let name = node.node.name().to_owned();
    let attach = ["dataplane", "attach", "--node", &name, "--pod-iface", "h1"];
    // When: attach runs again (aya loads the object and probes the kernel's BPF features).
    let quiet = stderr_of(&attach);
    let verbose = stderr_of(&[&["-vv"][..], &attach].concat());
    // Then: aya's debug record shows with -vv only.
    assert!(
        verbose.contains("DEBUG aya::bpf: BPF Feature Detection"),
        "-vv did not show aya's log:\n{verbose}"
    );
    assert!(
        !quiet.contains("aya::"),
        "aya's debug log without -v:\n{quiet}"
    );
}

#[test]
fn group_and_subscriber_edits_say_what_was_done_in_json() {
    require_datapath!();
    // Given: a node with its dataplane attached to a pod and a tunnel.
    let node = TestNode::new(1);
    let name = node.node.name().to_owned();
    mcastlab_testkit::run(
        "ip",
        &[
            "-n", &name, "link", "add", "vxlan0", "type", "vxlan", "external", "dstport", "4789",
        ],
    );
    mcastlab_testkit::run("ip", &["-n", &name, "link", "set", "vxlan0", "up"]);
    stdout_of(&[
        "dataplane",
        "attach",
        "--node",
        &name,
        "--tunnel",
        "vxlan0",
        "--vni",
        "42",
    ]);
    let on = ["--node", name.as_str()];
    // When/Then: each edit prints what it did.
    assert_eq!(
        json_of(
            &[
                &["group", "add"][..],
                &on,
                &["239.1.2.3", "--capacity", "8"]
            ]
            .concat()
        ),
        serde_json::json!({
            "action": "added", "node": name, "group": "239.1.2.3", "capacity": 8,
        })
    );
    assert_eq!(
        json_of(&[&["sub", "add"][..], &on, &["239.1.2.3", "192.0.2.7"]].concat()),
        serde_json::json!({
            "action": "added", "node": name, "group": "239.1.2.3", "subscriber": "192.0.2.7",
            "kind": "remote",
        })
    );
    assert_eq!(
        json_of(&[&["sub", "del"][..], &on, &["239.1.2.3", "192.0.2.7"]].concat()),
        serde_json::json!({
            "action": "deleted", "node": name, "group": "239.1.2.3", "subscriber": "192.0.2.7",
        })
    );
    assert_eq!(
        json_of(&[&["group", "del"][..], &on, &["239.1.2.3"]].concat()),
        serde_json::json!({ "action": "deleted", "node": name, "group": "239.1.2.3" })
    );
    assert_eq!(
        json_of(&[&["group", "ls"][..], &on].concat()),
        serde_json::json!([])
    );
}

#[test]
fn dataplane_config_shows_and_sets_the_record_limit_and_attach_keeps_it() {
    require_datapath!();
    // Given: a node with its dataplane attached to one pod, record limit as attached (24).
    let node = TestNode::new(1);
    let name = node.node.name().to_owned();
    let on = ["--node", name.as_str()];
    assert_eq!(
        json_of(&[&["dataplane", "config"][..], &on].concat()),
        serde_json::json!({
            "node": name, "tunnel_ifindex": 0, "vni": 0, "max_records": 24,
            "fast_leave": true, "older_host_present_ms": 260_000,
        })
    );
    // When: the limit is set to 40.
    let set = json_of(&[&["dataplane", "config"][..], &on, &["--max-records", "40"]].concat());
    // Then: config and status print it, and a re-attach without --max-records keeps it.
    assert_eq!(set["max_records"], 40);
    let table = stdout_of(&[&["dataplane", "config"][..], &on].concat());
    assert!(table.contains("40 of at most 183"), "{table}");
    let status = json_of(&[&["dataplane", "status"][..], &on].concat());
    assert_eq!(status["max_records"], 40);
    let attach = [&["dataplane", "attach"][..], &on, &["--pod-iface", "h1"]].concat();
    assert_eq!(json_of(&attach)["max_records"], 40);
    let attach = [&attach[..], &["--max-records", "30"]].concat();
    assert_eq!(json_of(&attach)["max_records"], 30);
    // And: limits outside 1..=183 are refused, naming the bound, and change nothing.
    for limit in ["0", "184"] {
        let output =
            mcastlab(&[&["dataplane", "config"][..], &on, &["--max-records", limit]].concat());
        assert_eq!(output.status.code(), Some(1));
        assert!(
            stderr(&output).contains(&format!("record limit {limit} is not in 1..=183")),
            "{}",
            stderr(&output)
        );
    }
    assert_eq!(
        json_of(&[&["dataplane", "config"][..], &on].concat())["max_records"],
        30
    );
}

/// A test node with group 239.1.1.1, which pod 2 (10.0.0.12, behind h2) joined, and one
/// 100-byte datagram pod 1 sent to it: its counters read `igmp_handled`, `subscribed`,
/// `replicated` and `copy_local` 1 each, and pod 2 got 1 copy of 100 bytes. Returns it and its
/// name.
fn node_with_one_delivery() -> (TestNode, String) {
    use mcastlab_testbed::{frame::Ipv4Frame, igmp::IgmpMessage};
    use std::net::Ipv4Addr;

    let (group, pod1, pod2) = (
        Ipv4Addr::new(239, 1, 1, 1),
        Ipv4Addr::new(10, 0, 0, 11),
        Ipv4Addr::new(10, 0, 0, 12),
    );
    let node = TestNode::new(2);
    let name = node.node.name().to_owned();
    stdout_of(&["group", "add", "--node", &name, "239.1.1.1"]);
    node.run_pod_ingress("h2", &IgmpMessage::V2Report(group).frame(pod2).to_bytes());
    let datagram = Ipv4Frame::udp(pod1, group, 5000, &[0x5a; 58]).to_bytes();
    assert_eq!(datagram.len(), 100, "the frame the counts are made of");
    node.run_pod_ingress("h1", &datagram);
    (node, name)
}

#[test]
fn stats_in_prometheus_format_parse_with_a_prometheus_parser() {
    require_datapath!();
    // Given: a node whose pod 2 joined a group and got one 100-byte copy from pod 1.
    let (_node, name) = node_with_one_delivery();
    // When: its counters are printed for Prometheus.
    let text = stdout_of(&["stats", "--node", &name, "-o", "prometheus"]);
    // Then: a parser reads one sample per reason, labelled with the node, and one packets and
    // one bytes sample for the member, labelled with its group, address and veth.
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("Prometheus text");
    let mut reasons = std::collections::BTreeMap::new();
    let mut members = std::collections::BTreeMap::new();
    for sample in &scrape.samples {
        assert_eq!(sample.labels.get("node"), Some(name.as_str()), "{text}");
        let value = match sample.value {
            // OpenMetrics names the family without `_total`, so a 0.0.4 parser cannot tie
            // the TYPE line to the samples.
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("not a counter: {other:?}"),
        };
        if sample.metric == "mcastlab_packets_total" {
            let reason = sample.labels.get("reason").expect("a reason label");
            reasons.insert(reason.to_owned(), value);
        } else {
            let label = |key: &str| sample.labels.get(key).unwrap_or("-").to_owned();
            members.insert(
                (
                    sample.metric.clone(),
                    label("group"),
                    label("member"),
                    label("iface"),
                ),
                value,
            );
        }
    }
    assert_eq!(reasons.len(), Reason::ALL.len(), "{text}");
    assert_eq!(reasons["igmp_handled"], 1.0, "{text}");
    assert_eq!(reasons["subscribed"], 1.0, "{text}");
    assert_eq!(reasons["copy_local"], 1.0, "{text}");
    assert_eq!(reasons["ignored_group"], 0.0, "{text}");
    assert_eq!(reasons.values().sum::<f64>(), 4.0, "{text}");
    assert!(text.contains("# TYPE mcastlab_packets counter\n"), "{text}");
    let member = |metric: &str| {
        (
            metric.to_owned(),
            "239.1.1.1".to_owned(),
            "10.0.0.12".to_owned(),
            "h2".to_owned(),
        )
    };
    assert_eq!(
        members,
        std::collections::BTreeMap::from([
            (member("mcastlab_member_delivered_bytes_total"), 100.0),
            (member("mcastlab_member_delivered_packets_total"), 1.0),
        ]),
        "{text}"
    );
}

#[test]
fn subscriber_list_and_stats_members_show_what_each_member_got() {
    require_datapath!();
    // Given: a node whose pod 2 joined a group and got one 100-byte copy from pod 1.
    let (_node, name) = node_with_one_delivery();
    let on = ["--node", name.as_str()];
    // When: its subscribers and its members' deliveries are listed.
    let mut listed = json_of(&[&["subscriber", "list"][..], &on, &["239.1.1.1"]].concat());
    let table = stdout_of(&[&["subscriber", "list"][..], &on, &["all"]].concat());
    let stats = json_of(&[&["stats", "--members"][..], &on].concat());
    // Then: each carries the member's packets and bytes.
    listed[0]["age_s"] = serde_json::json!("any");
    assert_eq!(
        listed,
        serde_json::json!([{
            "group": "239.1.1.1", "address": "10.0.0.12", "kind": "local",
            "ifindex": listed[0]["ifindex"], "origin": "igmp", "age_s": "any",
            "packets": 1, "bytes": 100, "filter": {"mode": "exclude", "sources": []},
        }])
    );
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(lines[0][6..], ["SOURCES", "PACKETS", "BYTES"], "{table}");
    assert_eq!(lines[1][6..], ["any", "1", "100"], "{table}");
    assert_eq!(
        stats["members"],
        serde_json::json!([{
            "group": "239.1.1.1", "member": "10.0.0.12", "kind": "local", "iface": "h2",
            "packets": 1, "bytes": 100,
        }])
    );
}

/// Removes lab `lab` when dropped.
struct LabGuard(String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = mcastlab(&["down", "--lab", &self.0]);
    }
}

#[test]
fn down_with_the_file_up_took_removes_that_lab() {
    require_datapath!();
    // Given: a lab deployed from a containerlab file.
    let lab = unique_name("cli");
    let _cleanup = LabGuard(lab.clone());
    let file = std::env::temp_dir().join(format!("{lab}.clab.yml"));
    let file = file.to_str().expect("UTF-8 path");
    stdout_of(&[
        "export", "--name", &lab, "--nodes", "1", "--pods", "1", "--out", file,
    ]);
    stdout_of(&["up", "-f", file]);
    // When: down gets the same file.
    let mut removed = json_of(&["down", "-f", file]);
    let _ = std::fs::remove_file(file);
    // Then: the file's lab is gone.
    removed["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .sort_by_key(|name| name.as_str().map(str::to_owned));
    assert_eq!(
        removed,
        serde_json::json!({
            "action": "removed",
            "lab": lab,
            "agents_stopped": [format!("{lab}-n1")],
            "detached": [format!("{lab}-n1")],
            "namespaces": [format!("{lab}-n1"), format!("{lab}-n1-p1"), format!("{lab}-ul")],
        })
    );
}

#[test]
fn up_ipv6_deploys_a_dual_stack_lab_and_records_it() {
    require_datapath!();
    // Given: a generated lab of one node with one pod, with --ipv6.
    let lab = unique_name("cli");
    let _cleanup = LabGuard(lab.clone());
    // When: it comes up.
    let spec = json_of(&[
        "up",
        "--lab",
        &lab,
        "--nodes",
        "1",
        "--pods",
        "1",
        "--ipv6",
        "--no-agent",
    ]);
    // Then: the recorded lab is dual-stack, and the pod holds its IPv6 address.
    assert_eq!(spec["ipv6"], serde_json::json!(true), "{spec}");
    let addresses = mcastlab_testkit::ip(&["-n", &format!("{lab}-n1-p1"), "-6", "addr"]);
    assert!(
        addresses.contains("fd00:200::101/64"),
        "expected fd00:200::101/64 in the pod, saw {addresses}"
    );
    assert_eq!(
        json_of(&["status", "--lab", &lab])[0]["spec"]["ipv6"],
        serde_json::json!(true)
    );
}

/// Sends `GET path` to `address` and returns the whole response, or `None` while nothing
/// listens there.
fn http_get(address: std::net::SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// A child process this test started, killed (by its PID) and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_agent_serves_the_counters_on_metrics_and_stops_cleanly_on_sigterm() {
    require_datapath!();
    // Given: a node whose pod 2 joined a group and got one 100-byte copy from pod 1, and its
    // agent serving metrics on a free local port.
    let (_node, name) = node_with_one_delivery();
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let mut agent = Child(
        Command::new(env!("CARGO_BIN_EXE_mcastlab"))
            .args([
                "agent",
                "--node",
                &name,
                "--metrics-address",
                &address.to_string(),
            ])
            .spawn()
            .expect("start the agent"),
    );
    // When: /metrics is scraped (once the agent listens).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = loop {
        if let Some(response) = http_get(address, "/metrics") {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never listened on {address}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // Then: 200 with the node's counters and its member's, which a Prometheus parser reads.
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("the body parses as Prometheus text");
    let value_of = |metric: &str, label: (&str, &str)| {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
            .unwrap_or_else(|| panic!("no {metric} sample with {label:?}:\n{body}"));
        assert_eq!(sample.labels.get("node"), Some(name.as_str()), "{body}");
        match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("not a counter: {other:?}"),
        }
    };
    assert_eq!(
        value_of("mcastlab_packets_total", ("reason", "subscribed")),
        1.0
    );
    assert_eq!(
        value_of("mcastlab_member_delivered_packets_total", ("iface", "h2")),
        1.0
    );
    assert_eq!(
        value_of("mcastlab_member_delivered_bytes_total", ("iface", "h2")),
        100.0
    );
    // And: another path is not found.
    let other = http_get(address, "/").expect("a response");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    // When: the agent gets SIGTERM. Then: it exits with success.
    let pid = nix::unistd::Pid::from_raw(agent.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = agent.0.wait().expect("wait for the agent");
    assert!(status.success(), "the agent ended with {status}");
}

#[test]
fn pod_edits_and_link_local_refusals_say_what_was_done() {
    require_datapath!();
    // Given: a node with pods h1 (10.0.0.11) and h2 (10.0.0.12) attached.
    let node = TestNode::new(2);
    let name = node.node.name().to_owned();
    let on = ["--node", name.as_str()];
    let recorded = node.node.pods().expect("pods").entries().expect("entries");
    let ifindex = |iface: &str| {
        recorded
            .iter()
            .find(|pod| pod.iface.as_deref() == Some(iface))
            .map(|pod| pod.ifindex)
            .unwrap_or_else(|| panic!("{iface} has no identity: {recorded:?}"))
    };
    let (h1, h2) = (ifindex("h1"), ifindex("h2"));
    // When/Then: the list shows what attach recorded, set and delete print what they did.
    assert_eq!(
        json_of(&[&["pod", "ls"][..], &on].concat()),
        serde_json::json!([
            {"ifindex": h1.min(h2), "iface": if h1 < h2 { "h1" } else { "h2" },
             "address": if h1 < h2 { "10.0.0.11" } else { "10.0.0.12" }},
            {"ifindex": h1.max(h2), "iface": if h1 < h2 { "h2" } else { "h1" },
             "address": if h1 < h2 { "10.0.0.12" } else { "10.0.0.11" }},
        ])
    );
    assert_eq!(
        json_of(&[&["pod", "set"][..], &on, &["h1", "10.0.0.99"]].concat()),
        serde_json::json!({
            "action": "set", "node": name, "iface": "h1", "ifindex": h1, "address": "10.0.0.99",
        })
    );
    assert_eq!(
        json_of(&[&["pod", "del"][..], &on, &["h2"]].concat()),
        serde_json::json!({ "action": "deleted", "node": name, "iface": "h2" })
    );
    assert_eq!(
        json_of(&[&["pod", "ls"][..], &on].concat()),
        serde_json::json!([{"ifindex": h1, "iface": "h1", "address": "10.0.0.99"}])
    );
    // And: refusals name what is wrong and exit non-zero.
    for (args, message) in [
        (
            &["pod", "del", "h2"][..],
            "no pod identity for interface 'h2'",
        ),
        (
            &["pod", "set", "h2", "224.1.1.1"],
            "cannot be a pod's address",
        ),
        (
            &["group", "add", "224.0.0.5"],
            "224.0.0.5 is in 224.0.0.0/24, RFC 5771's Local Network Control Block",
        ),
    ] {
        let output = mcastlab(&[&args[..2], &on, &args[2..]].concat());
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
    assert_eq!(
        json_of(&[&["group", "ls"][..], &on].concat()),
        serde_json::json!([])
    );
}

/// Whether process `pid` has `path` open.
fn has_open(pid: u32, path: &std::path::Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

#[test]
fn attach_processes_wait_for_the_node_lock_then_leave_the_node_attached() {
    use std::time::{Duration, Instant};

    require_datapath!();
    /// Two writers: each waits while the test holds the lock, then for the other.
    const PROCESSES: usize = 2;
    /// How long a process may take to reach the lock (it checks the kernel first).
    const REACH_LOCK: Duration = Duration::from_secs(30);
    // Given: a node with two pods, detached, whose writer lock this test holds.
    let node = TestNode::new(2);
    let name = node.node.name().to_owned();
    stdout_of(&["dataplane", "detach", "--node", &name]);
    let lock = node.node.lock().expect("the node lock");
    let lock_file = std::path::Path::new(mcastlab_dataplane::lock::LOCK_DIR).join(&name);
    let holder = format!("pid {}", std::process::id());
    // When: two mcastlab processes attach it at once.
    let mut children: Vec<std::process::Child> = (0..PROCESSES)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_mcastlab"))
                .args([
                    "dataplane",
                    "attach",
                    "--node",
                    name.as_str(),
                    "--pod-iface",
                    "h1=10.0.0.11,h2=10.0.0.12",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn mcastlab")
        })
        .collect();
    // Then: each one waits on the node's lock file while the test holds it, and none attaches
    // or takes the lock meanwhile.
    let deadline = Instant::now() + REACH_LOCK;
    for child in &mut children {
        while !has_open(child.id(), &lock_file) {
            if let Some(status) = child.try_wait().expect("poll mcastlab") {
                panic!("an attach ended ({status}) while the test held the node lock");
            }
            assert!(
                Instant::now() < deadline,
                "attach process {} did not open {} within {REACH_LOCK:?}",
                child.id(),
                lock_file.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(
        !node.node.pins().is_attached(),
        "the node was attached while the test held its lock"
    );
    let named = std::fs::read_to_string(&lock_file).expect("the lock file");
    assert_eq!(named.split(" (").next(), Some(holder.as_str()), "{named}");
    for child in &mut children {
        assert_eq!(child.try_wait().expect("poll mcastlab"), None);
    }
    // And when the test lets go: every one succeeds, one after the other, and the node ends
    // attached on both pods.
    drop(lock);
    for child in children {
        let output = child.wait_with_output().expect("wait for mcastlab");
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let status = json_of(&["dataplane", "status", "--node", &name]);
    assert_eq!(status["attached"], true, "{status}");
    assert_eq!(node.node.links().expect("links").len(), 2);
    assert_eq!(node.node.pods().expect("pods").entries().unwrap().len(), 2);
}

/// Everything `reader` gives until its end, or panics after `timeout`.
fn read_to_end_within(
    mut reader: impl std::io::Read + Send + 'static,
    timeout: std::time::Duration,
) -> String {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = reader.read_to_string(&mut text);
        let _ = done.send(text);
    });
    finished
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("no end of output within {timeout:?}"))
}

/// Reads lines of `reader` until one contains `wanted`, or panics after `timeout`.
fn wait_for_line(
    reader: impl std::io::Read + Send + 'static,
    wanted: &'static str,
    timeout: std::time::Duration,
) {
    use std::io::BufRead as _;
    let (found, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(wanted) {
                let _ = found.send(());
            }
        }
    });
    seen.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("no line with '{wanted}' within {timeout:?}"));
}

#[test]
fn monitor_streams_a_join_and_a_leave_with_the_pods_identity_as_json() {
    require_datapath!();
    // Given: a node with group 239.1.2.3, its agent, and `monitor -o json --count 2`
    // subscribed to it (it says so on stderr).
    let node = TestNode::new(1);
    let name = node.node.name().to_owned();
    node.node
        .groups()
        .and_then(|mut groups| groups.add_group(Ipv4Addr::new(239, 1, 2, 3)))
        .expect("add the group");
    let mut agent = Child(
        Command::new(env!("CARGO_BIN_EXE_mcastlab"))
            .args(["agent", "--node", &name])
            .spawn()
            .expect("start the agent"),
    );
    let socket = format!("/run/mcastlab/monitor/{name}.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never listened on {socket}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut monitor = Child(
        Command::new(env!("CARGO_BIN_EXE_mcastlab"))
            .args(["monitor", "--node", &name, "-o", "json", "--count", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the monitor"),
    );
    let stderr = monitor.0.stderr.take().expect("stderr");
    wait_for_line(stderr, "monitoring", std::time::Duration::from_secs(10));

    // When: pod 1 joins and leaves the group (IGMPv2, from its own address).
    let group = Ipv4Addr::new(239, 1, 2, 3);
    let pod = TestNode::pod_address(1);
    for message in [
        mcastlab_testbed::igmp::IgmpMessage::V2Report(group),
        mcastlab_testbed::igmp::IgmpMessage::V2Leave(group),
    ] {
        node.run_pod_ingress("h1", &message.frame(pod).to_bytes());
    }

    // Then: two JSON lines, a join and a leave, each naming the group, the pod's veth and its
    // address.
    let stdout = monitor.0.stdout.take().expect("stdout");
    let output = read_to_end_within(stdout, std::time::Duration::from_secs(10));
    let events: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let ifindex = {
        let _inside = node.node.enter().expect("enter the node");
        nix::net::if_::if_nametoindex("h1").expect("h1")
    };
    for (event, (kind, reason)) in events
        .iter()
        .zip([("join", "subscribed"), ("leave", "left")])
    {
        assert_eq!(event["event"], kind, "{output}");
        assert_eq!(event["reason"], reason, "{output}");
        assert_eq!(event["node"], name.as_str(), "{output}");
        assert_eq!(event["group"], "239.1.2.3", "{output}");
        assert_eq!(event["address"], "10.0.0.11", "{output}");
        assert_eq!(event["iface"], "h1", "{output}");
        assert_eq!(event["ifindex"], ifindex, "{output}");
        assert_eq!(event["remote"], false, "{output}");
    }
    assert_eq!(events.len(), 2, "{output}");
    // And: the agent, stopped, removes its socket.
    let pid = nix::unistd::Pid::from_raw(agent.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    assert!(agent.0.wait().expect("wait for the agent").success());
    assert!(!std::path::Path::new(&socket).exists(), "{socket} stayed");
}

#[test]
fn monitor_without_an_agent_says_how_to_start_one() {
    require_datapath!();
    // Given: a node with a dataplane and no agent.
    let node = TestNode::new(1);
    let name = node.node.name();
    // When: its monitor is asked for. Then: it fails, naming the command that starts one.
    let output = mcastlab(&["monitor", "--node", name]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(&format!("mcastlab agent --node {name}")),
        "{}",
        stderr(&output)
    );
}
