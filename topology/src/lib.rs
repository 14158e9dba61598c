//! mcastlab's lab topology: a serde model of nodes and pods, a generator with a deterministic
//! address and name plan, and deploy/destroy on plain network namespaces with rtnetlink.
//!
//! Names (so other tools can `ip netns exec` into them):
//! - node `<node>` of lab `<lab>`: namespace `<lab>-<node>` (e.g. `demo-n1`);
//! - pod `<pod>` on it: namespace `<lab>-<node>-<pod>` (e.g. `demo-n1-p2`), interface `eth0`,
//!   whose host side in the node is `veth-<pod>`;
//! - the underlay: namespace `<lab>-ul` with bridge `br0`; each node's leg is `ul0`;
//! - each node's tunnel: `vxlan0`, external (collect_md) mode, UDP port 4789.
//!
//! A lab can instead place one node on the machine itself ([`model::HostPlacement`], see
//! [`host`]): the node is the namespace the deploy runs in (a VM's root namespace, still named
//! `<lab>-<node>`), its underlay an interface of the machine, the other nodes other machines.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

pub mod bridge;
pub mod containerlab;
pub mod deploy;
pub mod error;
pub mod host;
pub mod model;
mod namespaces;
mod netlink;
mod node;
pub mod offload;
pub mod state;

pub use error::TopologyError;
pub use model::{HostPlacement, LabSpec, NodeSpec, PodSpec};
