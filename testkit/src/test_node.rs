//! The fixture of the datapath tests: a node namespace of their own with veth pairs, the
//! dataplane attached, `BPF_PROG_TEST_RUN` of its programs and capture on the pod ends.

use std::{collections::BTreeMap, net::Ipv4Addr};

use crate::{Namespace, ip, unique_name};
use aya::{
    Ebpf,
    programs::{SchedClassifier, TestRun, TestRunOptions},
};
use mcastlab_common::names::PROG_POD_INGRESS;
use mcastlab_dataplane::{AttachMode, AttachOptions, Node, PodIface, TunnelOptions, object};

/// A node namespace holding `pods` veth pairs `h<i>` (host side, dataplane attached, its pod's
/// identity [`TestNode::pod_address`]`(i)`) and `p<i>` (pod side, left in the same namespace for
/// capture). Dropping it detaches and deletes all.
pub struct TestNode {
    /// The node's dataplane.
    pub node: Node,
    ebpf: Ebpf,
    _namespace: Namespace,
}

impl TestNode {
    /// Creates the namespace, the veths, and attaches the dataplane to every `h<i>`.
    pub fn new(pods: usize) -> Self {
        Self::with_mode(pods, AttachMode::Auto)
    }

    /// The address the pod behind `h<i>` owns: 10.0.0.(10 + i), for i in 1..=245.
    pub fn pod_address(i: usize) -> Ipv4Addr {
        let last = u8::try_from(10 + i).expect("at most 245 pods per test node");
        Ipv4Addr::new(10, 0, 0, last)
    }

    /// Like [`TestNode::new`], attaching with `mode`.
    pub fn with_mode(pods: usize, mode: AttachMode) -> Self {
        let namespace = Namespace::new(&unique_name("dp"));
        let name = namespace.name().to_owned();
        for (key, value) in [("all", "1"), ("default", "1")] {
            let setting = format!("net.ipv6.conf.{key}.disable_ipv6={value}");
            ip(&["netns", "exec", &name, "sysctl", "-qw", &setting]);
        }
        let mut pod_ifaces = Vec::new();
        for i in 1..=pods {
            let (host, pod) = (format!("h{i}"), format!("p{i}"));
            ip(&[
                "-n", &name, "link", "add", &host, "type", "veth", "peer", "name", &pod,
            ]);
            ip(&["-n", &name, "link", "set", &host, "up"]);
            ip(&["-n", &name, "link", "set", &pod, "up"]);
            pod_ifaces.push(PodIface::new(host, Self::pod_address(i)));
        }
        let node = Node::open(&name).expect("open test node");
        node.attach(&AttachOptions {
            mode,
            pod_ifaces,
            tunnel: None,
            max_records: None,
        })
        .expect("attach the dataplane");
        // A panic from here on must not leave the node's pins behind.
        let attached = DetachOnDrop(Some(node.clone()));
        let mut ebpf = object::load(Some(node.pins())).expect("load the object on the node's maps");
        object::load_program(&mut ebpf, PROG_POD_INGRESS).expect("load mcast_pod_ingress");
        attached.disarm();
        Self {
            node,
            ebpf,
            _namespace: namespace,
        }
    }

    /// Gives the node a vxlan device in external mode (`ip link add vx0 type vxlan external
    /// dstport 4789`) and attaches `mcast_overlay_ingress` to it with `vni`, so that remote
    /// subscribers can be added; the pods' links stay as they are.
    pub fn attach_tunnel(&self, vni: u32) {
        let name = self.node.name();
        ip(&[
            "-n", name, "link", "add", "vx0", "type", "vxlan", "external", "dstport", "4789",
        ]);
        ip(&["-n", name, "link", "set", "vx0", "up"]);
        self.node
            .attach(&AttachOptions {
                mode: AttachMode::Auto,
                pod_ifaces: vec![],
                tunnel: Some(TunnelOptions {
                    iface: "vx0".to_owned(),
                    vni,
                }),
                max_records: None,
            })
            .expect("attach with a tunnel");
    }

    /// Runs `mcast_pod_ingress` once on `frame` as if it entered at `iface`; returns the verdict.
    pub fn run_pod_ingress(&self, iface: &str, frame: &[u8]) -> u32 {
        let program: &SchedClassifier = self
            .ebpf
            .program(PROG_POD_INGRESS)
            .expect("program")
            .try_into()
            .expect("a tc program");
        run_classifier(program, &self.node, iface, frame)
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

/// Runs loaded tc program `program` once on `frame` as if it entered at `iface` of `node`;
/// returns the verdict. Copies it redirects really leave through the node's interfaces.
pub fn run_classifier(program: &SchedClassifier, node: &Node, iface: &str, frame: &[u8]) -> u32 {
    let _netns = node.enter().expect("enter the test node");
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

/// Detaches a node's dataplane when dropped, unless disarmed: the cleanup of a `TestNode` that
/// did not finish being built.
struct DetachOnDrop(Option<Node>);

impl DetachOnDrop {
    /// The node is a whole `TestNode` now, whose drop detaches it.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        if let Some(node) = self.0.take() {
            let _ = node.detach();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        // The namespace goes after this, as the last field.
        let detached = self.node.detach();
        if let Err(err) = detached
            && !std::thread::panicking()
        {
            panic!("detach failed: {err}");
        }
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
