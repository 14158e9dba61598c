//! Wire formats, smoltcp-style: fixed-size views over headers as they sit on the wire, with
//! RFC-cited accessors, setters for emitting, and the checks the dataplane makes of them.
//!
//! Both sides use the same views. The eBPF side loads a header whole into a stack copy with
//! `bpf_skb_load_bytes` (the verifier does not track a slice over packet data) and reads it
//! through the accessors and checks; userspace builds frames through the constructors and
//! setters and parses whole IGMP messages with [`igmp::parse`] and whole MLD messages with
//! [`mld::parse`]. Nothing here allocates.

pub mod checksum;
pub mod ethernet;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod membership;
pub mod mld;
pub mod query;
pub mod report;
