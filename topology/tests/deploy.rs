//! Deploy and destroy on real namespaces: what deploy builds is there, a second deploy is
//! refused, destroy leaves nothing, and a foreign containerlab file deploys as it is.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

mod support;

use support::udp_reaches;

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
