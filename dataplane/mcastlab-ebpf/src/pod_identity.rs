//! Pod identity: a report from a pod's veth speaks only for the pod that owns the veth.
//!
//! The decision is `mcastlab_common::identity::member_address`; this file loads its inputs.

use mcastlab_common::{Reason, identity};

use crate::maps::MCAST_PODS;

/// The address a report arriving at `ifindex` with IPv4 source `source` may subscribe or
/// unsubscribe, or the reason it may not (the veth has no identity; the source is another's).
#[inline(always)]
pub fn member_address(ifindex: u32, source: u32) -> Result<u32, Reason> {
    // SAFETY: the value is copied out at once; userspace replaces entries whole.
    let identity = unsafe { MCAST_PODS.get(ifindex) }.copied();
    identity::member_address(identity, source)
}

/// The address of the pod behind the veth `ifindex` (the member an MLD report from it
/// subscribes), or `NoPodIdentity`.
#[inline(always)]
pub fn pod_address(ifindex: u32) -> Result<u32, Reason> {
    // SAFETY: as above.
    let identity = unsafe { MCAST_PODS.get(ifindex) }.copied();
    identity::pod_address(identity)
}
