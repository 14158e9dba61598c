//! Deploy and destroy on real namespaces: what deploy builds is there, a second deploy is
//! refused, destroy leaves nothing, and a foreign containerlab file deploys as it is.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

mod support;

use support::{udp_reaches, udp6_link_local_reaches};

use mcastlab_testkit::{require_root, unique_name};
use mcastlab_topology::{
    LabSpec, TopologyError,
    containerlab::{Imported, deploy_generic, import},
    deploy::{deploy_blocking, destroy, lab_namespaces},
};

/// `ip -n NETNS ARGS...`, its stdout.
fn ip(netns: &str, args: &[&str]) -> String {
    let mut all = vec!["-n", netns];
    all.extend_from_slice(args);
    mcastlab_testkit::ip(&all)
}

/// Removes a lab on drop, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = destroy(&self.0);
    }
}

#[test]
fn deploy_builds_the_plan_refuses_a_second_run_and_destroy_leaves_nothing() {
    require_root!();
    let name = unique_name("td");
    let _cleanup = Cleanup(name.clone());
    let mut spec = LabSpec::generate(&name, 2, 2).unwrap();
    spec.nodes[0].pods[1].igmp_version = Some(2);
    deploy_blocking(&spec).unwrap();

    assert_eq!(
        lab_namespaces(&name).unwrap().len(),
        spec.namespaces().len()
    );
    let pod = spec.pod_netns(&spec.nodes[0], &spec.nodes[0].pods[1]);
    assert!(ip(&pod, &["-4", "addr", "show", "eth0"]).contains("10.200.1.2/16"));
    assert!(ip(&pod, &["route", "show"]).contains("224.0.0.0/4 dev eth0"));
    assert_eq!(
        ip(&pod, &["-6", "addr", "show"]),
        "",
        "IPv6 is off in an IPv4 lab's pods"
    );
    let node = spec.node_netns(&spec.nodes[1]);
    assert!(ip(&node, &["-d", "link", "show", "vxlan0"]).contains("external"));
    assert!(ip(&node, &["-4", "addr", "show", "ul0"]).contains("172.31.255.2/24"));
    // Node 1 reaches node 2 over the underlay bridge.
    assert!(
        udp_reaches(
            &spec.node_netns(&spec.nodes[0]),
            &node,
            "172.31.255.2",
            7777
        ),
        "node 1 cannot reach node 2 over the underlay"
    );

    let again = deploy_blocking(&spec).unwrap_err();
    assert!(
        matches!(again, TopologyError::AlreadyDeployed { .. }),
        "{again}"
    );

    let removed = destroy(&name).unwrap();
    assert_eq!(removed.len(), spec.namespaces().len());
    assert!(lab_namespaces(&name).unwrap().is_empty());
    assert!(
        destroy(&name).unwrap().is_empty(),
        "a second destroy finds nothing"
    );
}

/// `sysctl -n KEY` in namespace `netns`.
fn sysctl(netns: &str, key: &str) -> String {
    mcastlab_testkit::run("ip", &["netns", "exec", netns, "sysctl", "-n", key])
        .trim()
        .to_owned()
}

#[test]
fn a_dual_stack_lab_gives_pods_ipv6_addresses_at_once_and_keeps_the_underlay_ipv4() {
    require_root!();
    // Given a lab of one node with two pods, IPv6 on, the second pod speaking MLDv1
    let name = unique_name("td");
    let _cleanup = Cleanup(name.clone());
    let mut spec = LabSpec::generate(&name, 1, 2).unwrap();
    spec.ipv6 = true;
    spec.nodes[0].pods[1].mld_version = Some(1);

    // When it is deployed
    deploy_blocking(&spec).unwrap();

    // Then each pod's eth0 has its address of fd00:200::/64 and a link-local one, neither
    // tentative (no duplicate address detection), besides its IPv4 address
    let node = &spec.nodes[0];
    for (pod, address) in node
        .pods
        .iter()
        .zip(["fd00:200::101/64", "fd00:200::102/64"])
    {
        let netns = spec.pod_netns(node, pod);
        let addresses = ip(&netns, &["-6", "addr", "show", "eth0"]);
        assert!(
            addresses.contains(&format!("inet6 {address} scope global")),
            "{netns}: expected {address} on eth0, saw {addresses}"
        );
        assert!(
            addresses.contains("inet6 fe80::") && addresses.contains("scope link"),
            "{netns}: expected a link-local address on eth0, saw {addresses}"
        );
        assert!(!addresses.contains("tentative"), "{netns}: {addresses}");
        assert_eq!(
            sysctl(&netns, "net.ipv6.conf.eth0.router_solicitations"),
            "0"
        );
        assert_eq!(sysctl(&netns, "net.ipv6.conf.eth0.accept_dad"), "0");
        assert!(ip(&netns, &["-4", "addr", "show", "eth0"]).contains("10.200.1."));
    }
    let p2 = spec.pod_netns(node, &node.pods[1]);
    assert_eq!(sysctl(&p2, "net.ipv6.conf.eth0.force_mld_version"), "1");
    let p1 = spec.pod_netns(node, &node.pods[0]);
    assert_eq!(sysctl(&p1, "net.ipv6.conf.eth0.force_mld_version"), "0");

    // And in the node, each pod's host veth has IPv6 on with its link-local address only,
    // reachable from its pod at once, while the underlay leg and vxlan0 keep IPv6 off
    let node_ns = spec.node_netns(node);
    let host = ip(&node_ns, &["-6", "-br", "addr", "show", "veth-p1"]);
    let link_local = host
        .split_whitespace()
        .find(|word| word.starts_with("fe80::"))
        .unwrap_or_else(|| panic!("expected a link-local address on veth-p1, saw {host}"));
    assert!(!host.contains("fd00:"), "{host}");
    let link_local: std::net::Ipv6Addr = link_local.trim_end_matches("/64").parse().unwrap();
    assert!(
        udp6_link_local_reaches(&p1, "eth0", &node_ns, "veth-p1", link_local, 7777),
        "pod p1 cannot reach its host veth's {link_local} over IPv6"
    );
    for iface in ["ul0", "vxlan0"] {
        assert_eq!(
            ip(&node_ns, &["-6", "addr", "show", iface]),
            "",
            "IPv6 stays off on {iface}"
        );
    }
    assert_eq!(
        ip(&spec.underlay_netns(), &["-6", "addr", "show"]),
        "",
        "IPv6 stays off in the underlay"
    );

    // And the recorded lab is the spec
    assert_eq!(
        mcastlab_topology::state::load(&name).unwrap(),
        Some(spec.clone())
    );
    destroy(&name).unwrap();
    assert!(lab_namespaces(&name).unwrap().is_empty());
}

#[test]
fn a_foreign_containerlab_file_deploys_on_namespaces() {
    require_root!();
    let name = unique_name("tc");
    let _cleanup = Cleanup(name.clone());
    let yaml = "name: two-hosts\ntopology:\n  nodes:\n    left:\n      kind: linux\n      \
                image: alpine\n      exec: [\"ip addr add 192.0.2.1/24 dev eth1\", \"ip link set \
                eth1 up\"]\n    right:\n      exec: [\"ip addr add 192.0.2.2/24 dev eth1\", \"ip \
                link set eth1 up\"]\n  links:\n    - endpoints: [\"left:eth1\", \"right:eth1\"]\n";
    let Imported::Generic(file) = import(yaml).unwrap() else {
        panic!("a foreign file imports as generic");
    };
    deploy_generic(&name, &file).unwrap();
    let left = format!("{name}-left");
    assert!(ip(&left, &["-4", "addr", "show", "eth1"]).contains("192.0.2.1/24"));
    assert!(
        udp_reaches(&left, &format!("{name}-right"), "192.0.2.2", 7777),
        "left cannot reach right over the imported link"
    );
    assert_eq!(destroy(&name).unwrap().len(), 2);
}
