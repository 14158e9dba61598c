//! Pod identity: whose reports a veth may carry, and which groups never become memberships.
//!
//! The decisions are made here once; the eBPF programs load the pod map entry and the packet's
//! source and count what these return.

use crate::{PodIdentity, Reason};

/// The unspecified address 0.0.0.0 as a map key: a report may carry it as its source when the
/// host has no address yet (RFC 3376 section 4.2.13).
pub const UNSPECIFIED: u32 = 0;

/// The address a report from a veth subscribes or unsubscribes, given the veth's pod identity
/// (`None`: the veth has no entry in the pod map) and the report's IPv4 source.
///
/// - no identity: refused with [`Reason::NoPodIdentity`] (a veth is closed until its pod's
///   address is known, so a pod cannot claim any address by reporting first);
/// - source == the pod's address, or 0.0.0.0 (RFC 3376 section 4.2.13): the pod's address;
/// - any other source: refused with [`Reason::SpoofedSource`].
#[inline(always)]
pub fn member_address(identity: Option<PodIdentity>, source: u32) -> Result<u32, Reason> {
    let address = pod_address(identity)?;
    if source == address || source == UNSPECIFIED {
        Ok(address)
    } else {
        Err(Reason::SpoofedSource)
    }
}

/// The address of the pod behind a veth, given its identity (`None`: no entry in the pod map),
/// or [`Reason::NoPodIdentity`]. An MLD report speaks for the pod behind its veth whatever
/// link-local source it carries (a pod's link-local addresses are its own interface's); the
/// member is named by the pod's IPv4 address.
#[inline(always)]
pub fn pod_address(identity: Option<PodIdentity>) -> Result<u32, Reason> {
    match identity {
        // An entry without an address is no identity (userspace never writes one).
        Some(identity) if identity.address != UNSPECIFIED => Ok(identity.address),
        _ => Err(Reason::NoPodIdentity),
    }
}

/// Whether `group` (a map key, [`crate::addr_key`]) lies in 224.0.0.0/24, RFC 5771's Local
/// Network Control Block (section 4): link-local control traffic (all-hosts, routing protocols,
/// mDNS) that routers never forward, so it is never configured and never a membership.
#[inline(always)]
pub const fn is_link_local_group(group: u32) -> bool {
    let [a, b, c, _] = group.to_ne_bytes();
    a == 224 && b == 0 && c == 0
}

/// Whether `group` (a map key, [`crate::addr_key`]) lies in 232.0.0.0/8, the source-specific
/// multicast range (RFC 4607 section 1): its members name their sources, so any-source
/// memberships are refused there (RFC 4604 section 2.2.1).
#[inline(always)]
pub const fn is_ssm_group(group: u32) -> bool {
    group.to_ne_bytes()[0] == 232
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;
    use crate::addr_key;

    const POD: u32 = addr_key(Ipv4Addr::new(10, 200, 1, 4));
    const OTHER: u32 = addr_key(Ipv4Addr::new(10, 200, 1, 5));

    fn pod() -> Option<PodIdentity> {
        Some(PodIdentity {
            address: POD,
            _pad: 0,
        })
    }

    #[test]
    fn a_veth_carries_only_its_pods_reports() {
        assert_eq!(member_address(pod(), POD), Ok(POD));
        assert_eq!(member_address(pod(), UNSPECIFIED), Ok(POD));
        assert_eq!(member_address(pod(), OTHER), Err(Reason::SpoofedSource));
        assert_eq!(member_address(None, POD), Err(Reason::NoPodIdentity));
        let empty = Some(PodIdentity::default());
        assert_eq!(
            member_address(empty, UNSPECIFIED),
            Err(Reason::NoPodIdentity)
        );
    }

    #[test]
    fn the_local_network_control_block_is_link_local() {
        for group in [
            [224, 0, 0, 0],
            [224, 0, 0, 5],
            [224, 0, 0, 251],
            [224, 0, 0, 255],
        ] {
            assert!(is_link_local_group(u32::from_ne_bytes(group)), "{group:?}");
        }
        for group in [
            [224, 0, 1, 1],
            [224, 1, 0, 0],
            [239, 1, 1, 1],
            [225, 0, 0, 1],
        ] {
            assert!(!is_link_local_group(u32::from_ne_bytes(group)), "{group:?}");
        }
    }
}
