//! The e2e suite (`cargo test -p mcastlab-lab --test e2e`): each case deploys a lab of its own
//! (namespaces named `e<pid>x<n>-...`), attaches the real dataplane, joins pods with real sockets or sends crafted
//! IGMP from them, and checks what arrives. Labs are removed on every path (drop guard).
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

mod agent;
mod bad_input;
mod delivery;
mod identity;
mod ipv6;
mod lab;
mod limits;
mod membership;
mod records;
mod sources;
mod sparse;
mod two_vms;
