//! Two "VMs" on one machine: two network namespaces whose `eth1` ends of one veth pair are
//! their private network (192.168.56.0/24, as the Vagrantfile's lab1 and lab2).

use crate::{Namespace, NetnsGuard, command::ip, netns_path};

/// VM a's address on its private network.
pub const VM_A_ADDRESS: &str = "192.168.56.11/24";
/// VM b's address on its private network.
pub const VM_B_ADDRESS: &str = "192.168.56.12/24";

/// Two VMs joined by `eth1`; both namespaces are removed when dropped. Labs a test deploys
/// inside them are the test's to remove (drop them first: fields drop in declaration order).
#[derive(Debug)]
pub struct TwoVms {
    /// VM a, with [`VM_A_ADDRESS`] on `eth1`.
    pub a: Namespace,
    /// VM b, with [`VM_B_ADDRESS`] on `eth1`.
    pub b: Namespace,
}

impl TwoVms {
    /// Builds VMs `<name>vm-a` and `<name>vm-b`, where `name` comes from
    /// [`crate::unique_name`].
    pub fn new(name: &str) -> Self {
        let vms = Self {
            a: Namespace::new(&format!("{name}vm-a")),
            b: Namespace::new(&format!("{name}vm-b")),
        };
        ip(&[
            "-n",
            vms.a.name(),
            "link",
            "add",
            "eth1",
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            vms.b.name(),
        ]);
        for (vm, address) in [(&vms.a, VM_A_ADDRESS), (&vms.b, VM_B_ADDRESS)] {
            ip(&["-n", vm.name(), "addr", "add", address, "dev", "eth1"]);
            ip(&["-n", vm.name(), "link", "set", "eth1", "up"]);
        }
        vms
    }

    /// Runs `f` with this thread inside `vm` (setns, as a command run on that VM would be;
    /// not `ip netns exec`, which hides /sys/fs/bpf).
    pub fn inside<T>(vm: &Namespace, f: impl FnOnce() -> T) -> T {
        let _inside = NetnsGuard::enter(&netns_path(vm.name())).expect("enter the VM");
        f()
    }
}
