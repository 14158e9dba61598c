//! The testbed of mcastlab: frames and IGMP messages built byte by byte (for `BPF_PROG_TEST_RUN`
//! and raw sends), and later the pods' real senders and receivers.
#![deny(missing_docs)]

pub mod checksum;
pub mod frame;
pub mod igmp;
