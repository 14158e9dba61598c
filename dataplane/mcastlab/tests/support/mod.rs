//! Fixtures of the privileged tests: a node namespace of their own with veth pairs, the
//! dataplane attached, `BPF_PROG_TEST_RUN` of its programs and capture on the pod ends.
#![allow(
    dead_code,
    reason = "each test binary uses a part of the support module"
)]

use std::{
    collections::BTreeMap,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use aya::{
    Ebpf,
    programs::{SchedClassifier, TestRun, TestRunOptions},
};
use mcastlab::dataplane::{AttachMode, AttachOptions, DataplaneError, Node, kernel, object};
use mcastlab_common::{Reason, names::PROG_POD_INGRESS};

/// Returns why privileged tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("needs root (BPF, network namespaces)".to_owned());
    }
    match kernel::check_datapath_support() {
        Ok(()) => None,
        Err(
            err @ (DataplaneError::KernelTooOld { .. } | DataplaneError::MissingFeature { .. }),
        ) => Some(format!("kernel support missing: {err}")),
        Err(err) => panic!("probing the kernel failed: {err}"),
    }
}

/// Skips the calling test (returning from it) with a printed reason when it cannot run here.
#[macro_export]
macro_rules! require_privileges {
    () => {
        if let Some(reason) = $crate::support::skip_reason() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

/// Runs a command and panics with its output unless it succeeds.
pub fn run(program: &str, args: &[&str]) {
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
}

/// A unique, short namespace name: `<prefix>-<pid>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A node namespace holding `pods` veth pairs `h<i>` (host side, dataplane attached) and `p<i>`
/// (pod side, left in the same namespace for capture). Dropping it detaches and deletes all.
pub struct TestNode {
    pub node: Node,
    ebpf: Ebpf,
}

impl TestNode {
    /// Creates the namespace, the veths, and attaches the dataplane to every `h<i>`.
    pub fn new(pods: usize) -> Self {
        Self::with_mode(pods, AttachMode::Auto)
    }

    /// Like [`TestNode::new`], attaching with `mode`.
    pub fn with_mode(pods: usize, mode: AttachMode) -> Self {
        let name = unique_name("mcl-dp");
        run("ip", &["netns", "add", &name]);
        // From here on, dropping the guard cleans up whatever was created.
        let cleanup = NamespaceGuard(name.clone());
        for (key, value) in [("all", "1"), ("default", "1")] {
            let setting = format!("net.ipv6.conf.{key}.disable_ipv6={value}");
            run("ip", &["netns", "exec", &name, "sysctl", "-qw", &setting]);
        }
        let mut pod_ifaces = Vec::new();
        for i in 1..=pods {
            let (host, pod) = (format!("h{i}"), format!("p{i}"));
            run(
                "ip",
                &[
                    "-n", &name, "link", "add", &host, "type", "veth", "peer", "name", &pod,
                ],
            );
            run("ip", &["-n", &name, "link", "set", &host, "up"]);
            run("ip", &["-n", &name, "link", "set", &pod, "up"]);
            pod_ifaces.push(host);
        }
        let node = Node::open(&name).expect("open test node");
        node.attach(&AttachOptions {
            mode,
            pod_ifaces,
            tunnel: None,
        })
        .expect("attach the dataplane");
        let mut ebpf = object::load(Some(node.pins())).expect("load the object on the node's maps");
        object::load_program(&mut ebpf, PROG_POD_INGRESS).expect("load mcast_pod_ingress");
        std::mem::forget(cleanup);
        Self { node, ebpf }
    }

    /// Runs `mcast_pod_ingress` once on `frame` as if it entered at `iface`; returns the verdict.
    pub fn run_pod_ingress(&self, iface: &str, frame: &[u8]) -> u32 {
        let program: &SchedClassifier = self
            .ebpf
            .program(PROG_POD_INGRESS)
            .expect("program")
            .try_into()
            .expect("a tc program");
        let _netns = self.node.enter().expect("enter the test node");
        let ifindex = nix::net::if_::if_nametoindex(iface).expect("interface exists");
        let ctx = skb_context(ifindex);
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&ctx),
                ..TestRunOptions::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        result.return_value
    }

    /// Every reason counter by name.
    pub fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.node
            .stats()
            .expect("read counters")
            .into_iter()
            .map(|c| (c.name, c.count))
            .collect()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let detached = self.node.detach();
        drop(NamespaceGuard(self.node.name().to_owned()));
        if let Err(err) = detached
            && !std::thread::panicking()
        {
            panic!("detach failed: {err}");
        }
    }
}

/// Deletes a namespace when dropped.
struct NamespaceGuard(String);

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A `struct __sk_buff` for `BPF_PROG_TEST_RUN` with only `ifindex` set: the kernel then runs
/// the program as if the frame were on that device, and redirects really transmit.
fn skb_context(ifindex: u32) -> [u8; SK_BUFF_SIZE] {
    let mut ctx = [0u8; SK_BUFF_SIZE];
    ctx[SK_BUFF_IFINDEX..SK_BUFF_IFINDEX + 4].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// `sizeof(struct __sk_buff)` (include/uapi/linux/bpf.h).
const SK_BUFF_SIZE: usize = 192;
/// `offsetof(struct __sk_buff, ifindex)`.
const SK_BUFF_IFINDEX: usize = 40;

/// The change of each counter between two readings, zeros left out.
pub fn delta(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    after
        .iter()
        .filter_map(|(name, count)| {
            let change = count - before.get(name).copied().unwrap_or(0);
            (change > 0).then_some((*name, change))
        })
        .collect()
}

/// The expected counter changes, from (reason, count) pairs.
pub fn expect(changes: &[(Reason, u64)]) -> BTreeMap<&'static str, u64> {
    changes
        .iter()
        .map(|(reason, n)| (reason.name(), *n))
        .collect()
}
