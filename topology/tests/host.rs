//! A node placed on the machine itself (the two-VM lab), on real namespaces: a "VM" is a
//! namespace whose `eth1` is one end of a veth pair to the other "VM". Deploy builds the pods
//! and `vxlan0` in the namespace it runs in and names it `<lab>-<node>`; destroy removes exactly
//! that and leaves the VM's own interfaces and addresses; bad input changes nothing.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

mod support;

use support::{udp_reaches, udp6_link_local_reaches};

use std::path::Path;

use mcastlab_testkit::{NetnsGuard, ip, netns_path, require_root, unique_name};
use netns_rs::NetNs;

use mcastlab_topology::{
    LabSpec, TopologyError,
    deploy::{deploy_blocking, destroy, lab_namespaces},
    model::Cidr,
    state,
};

/// The test kit's two "VMs" (`<lab>vm-a`, `<lab>vm-b`, joined by `eth1`) and the lab `<lab>`
/// placed on them. Dropping it removes the lab (with whatever a deploy made), then both VMs.
struct TwoVms {
    lab: String,
    a: String,
    b: String,
    _vms: mcastlab_testkit::TwoVms,
}

impl TwoVms {
    fn new(prefix: &str) -> Self {
        let lab = unique_name(prefix);
        let vms = mcastlab_testkit::TwoVms::new(&lab);
        // Whatever a killed earlier run with this pid left is not ours to keep.
        let _ = destroy(&lab);
        Self {
            a: vms.a.name().to_owned(),
            b: vms.b.name().to_owned(),
            lab,
            _vms: vms,
        }
    }

    /// Lab `self.lab` placed with node `node` on the VM; pods `p1`, `p2` per node.
    fn spec(&self, node: &str, iface: Option<&str>, address: &str) -> LabSpec {
        let mut spec = LabSpec::generate(&self.lab, 2, 2).unwrap();
        let peer = if node == "n1" {
            "192.168.56.12"
        } else {
            "192.168.56.11"
        };
        spec.place_on_host(
            node,
            iface.map(str::to_owned),
            Some(address.parse::<Cidr>().unwrap()),
            &[peer.parse().unwrap()],
        )
        .unwrap();
        spec
    }

    /// Runs `f` with this thread inside VM `vm` (setns, as `mcastlab up` would run there).
    fn inside<T>(&self, vm: &str, f: impl FnOnce() -> T) -> T {
        let _inside = NetnsGuard::enter(&netns_path(vm)).expect("enter the VM");
        f()
    }
}

impl Drop for TwoVms {
    fn drop(&mut self) {
        let _ = destroy(&self.lab);
    }
}

#[test]
fn a_host_node_is_built_in_the_vm_namespace_and_destroy_leaves_the_vm_as_it_was() {
    require_root!();
    // Given two VMs on a private network, and lab nodes n1 (VM a) and n2 (VM b).
    let vms = TwoVms::new("th");
    let spec = vms.spec("n1", None, "192.168.56.11/24");
    let before = ip(&["-n", &vms.a, "-br", "addr"]);

    // When VM a deploys n1 where it runs, finding its underlay interface by address.
    vms.inside(&vms.a, || deploy_blocking(&spec)).unwrap();

    // Then n1's namespace is VM a's, named as usual, with vxlan0 and the pods' veths in it.
    let node_ns = spec.node_netns(&spec.nodes[0]);
    assert_eq!(
        NetNs::get(&node_ns).unwrap(),
        NetNs::get(&vms.a).unwrap(),
        "{node_ns} is a second name of VM a's namespace"
    );
    let links = ip(&["-n", &vms.a, "-d", "link", "show", "vxlan0"]);
    assert!(
        links.contains("vxlan") && links.contains("external"),
        "{links}"
    );
    for pod in ["p1", "p2"] {
        ip(&["-n", &vms.a, "link", "show", &format!("veth-{pod}")]);
    }
    let pod = spec.pod_netns(&spec.nodes[0], &spec.nodes[0].pods[1]);
    assert!(ip(&["-n", &pod, "-4", "addr", "show", "eth0"]).contains("10.200.1.2/16"));
    assert_eq!(lab_namespaces(&vms.lab).unwrap().len(), 1 + 2);
    // And the record names the interface it found, and only n1 is local.
    let recorded = state::load(&vms.lab).unwrap().expect("the lab is recorded");
    let placement = recorded
        .host
        .as_ref()
        .expect("recorded as placed on the host");
    assert_eq!(placement.underlay_iface.as_deref(), Some("eth1"));
    assert_eq!(recorded.local_nodes().count(), 1);
    // And the VMs still reach each other over their own underlay.
    assert!(
        udp_reaches(&vms.a, &vms.b, "192.168.56.12", 7778),
        "VM a no longer reaches VM b over eth1"
    );

    // When the lab is destroyed (from outside the VM: destroy goes by name).
    let removed = destroy(&vms.lab).unwrap();

    // Then only what deploy made is gone: the VM has its interfaces and addresses as before.
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(lab_namespaces(&vms.lab).unwrap().is_empty());
    assert!(
        Path::new("/run/netns").join(&vms.a).exists(),
        "VM a remains"
    );
    assert_eq!(
        ip(&["-n", &vms.a, "-br", "addr"]),
        before,
        "VM a's interfaces and addresses after destroy"
    );
    assert!(state::load(&vms.lab).unwrap().is_none());
}

#[test]
fn a_dual_stack_host_node_turns_ipv6_on_for_its_pods_and_their_host_veths() {
    require_root!();
    // Given two VMs, and lab node n1 (VM a) of a dual-stack lab
    let vms = TwoVms::new("th");
    let mut spec = vms.spec("n1", None, "192.168.56.11/24");
    spec.ipv6 = true;
    spec.validate().unwrap();

    // When VM a deploys n1 where it runs
    vms.inside(&vms.a, || deploy_blocking(&spec)).unwrap();

    // Then pod p2 has its IPv6 address and reaches the link-local address of its host veth
    // in VM a's namespace at once
    let pod = spec.pod_netns(&spec.nodes[0], &spec.nodes[0].pods[1]);
    let addresses = ip(&["-n", &pod, "-6", "addr", "show", "eth0"]);
    assert!(
        addresses.contains("inet6 fd00:200::102/64 scope global"),
        "{addresses}"
    );
    let host = ip(&["-n", &vms.a, "-6", "-br", "addr", "show", "veth-p2"]);
    let link_local: std::net::Ipv6Addr = host
        .split_whitespace()
        .find_map(|word| word.strip_prefix("fe80::").map(|_| word))
        .and_then(|word| word.trim_end_matches("/64").parse().ok())
        .unwrap_or_else(|| panic!("expected a link-local address on veth-p2, saw {host}"));
    assert!(
        udp6_link_local_reaches(&pod, "eth0", &vms.a, "veth-p2", link_local, 7779),
        "pod p2 cannot reach {link_local} on its host veth over IPv6"
    );

    // When the lab is destroyed, then the VM remains without the lab's links
    destroy(&vms.lab).unwrap();
    assert!(lab_namespaces(&vms.lab).unwrap().is_empty());
}

#[test]
fn bad_host_input_is_refused_with_the_reason_and_changes_nothing() {
    require_root!();
    // Given two VMs; VM a's own links and addresses as they are.
    let vms = TwoVms::new("tb");
    let check_refused = |spec: &LabSpec, expected: &str| {
        let before = ip(&["-n", &vms.a, "-br", "addr"]);
        let err = vms.inside(&vms.a, || deploy_blocking(spec)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(expected),
            "expected an error containing '{expected}', got: {message}"
        );
        assert!(
            lab_namespaces(&vms.lab).unwrap().is_empty(),
            "namespaces left after a refused deploy ({message})"
        );
        assert!(state::load(&vms.lab).unwrap().is_none(), "record left");
        assert_eq!(ip(&["-n", &vms.a, "-br", "addr"]), before, "VM a changed");
        err
    };

    // An interface the VM does not have.
    let err = check_refused(
        &vms.spec("n1", Some("eth9"), "192.168.56.11/24"),
        "no interface eth9",
    );
    assert!(matches!(err, TopologyError::NoUnderlayInterface { .. }));
    // An address that is not the VM's: the error lists what the VM has.
    let err = check_refused(
        &vms.spec("n1", Some("eth1"), "192.168.56.99/24"),
        "eth1: 192.168.56.11/24",
    );
    assert!(matches!(err, TopologyError::UnderlayAddressMissing { .. }));
    // The address on another interface than the one named.
    ip(&["-n", &vms.a, "addr", "add", "192.168.56.50/32", "dev", "lo"]);
    check_refused(
        &vms.spec("n1", Some("eth1"), "192.168.56.50/24"),
        "not on eth1",
    );
    ip(&["-n", &vms.a, "addr", "del", "192.168.56.50/32", "dev", "lo"]);
    // An underlay that is down.
    ip(&["-n", &vms.a, "link", "set", "eth1", "down"]);
    let err = check_refused(&vms.spec("n1", None, "192.168.56.11/24"), "is down");
    assert!(matches!(err, TopologyError::UnderlayDown { .. }));
    ip(&["-n", &vms.a, "link", "set", "eth1", "up"]);
    // A vxlan0 that is not the lab's (a bridge here): refused, and left alone.
    ip(&["-n", &vms.a, "link", "add", "vxlan0", "type", "bridge"]);
    let err = check_refused(
        &vms.spec("n1", None, "192.168.56.11/24"),
        "vxlan0 already exists",
    );
    assert!(matches!(err, TopologyError::HostLinkExists { .. }));
    ip(&["-n", &vms.a, "link", "show", "vxlan0"]);
}
