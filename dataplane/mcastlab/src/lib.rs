//! mcastlab: a reference eBPF multicast dataplane for container networks, and the lab that proves
//! it. This crate is the userspace side: it loads, attaches and pins the tc programs of
//! `mcastlab-ebpf` per node (a network namespace) and manages their group map.
#![deny(missing_docs)]

pub mod bench;
pub mod dataplane;
pub mod lab;
