//! The testbed of mcastlab: pods' senders and receivers on real sockets (a join makes the pod's
//! kernel send real IGMP or MLD), and frames built byte by byte (IGMP and MLD of any shape, sent
//! raw from a pod or fed to `BPF_PROG_TEST_RUN`).
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        unused_crate_dependencies,
        reason = "dev-dependencies serve the integration tests"
    )
)]

pub mod blast;
pub mod capture;
pub mod frame;
pub mod igmp;
pub mod mld;
pub mod netns;
pub mod probe;
pub mod raw;
pub mod receiver;
pub mod sender;
