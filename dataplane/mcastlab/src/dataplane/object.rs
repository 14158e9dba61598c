//! The eBPF object built from `dataplane/mcastlab-ebpf` by build.rs, embedded in the binary.

/// The ELF bytes of the eBPF object, aligned for parsing.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mcastlab"));
