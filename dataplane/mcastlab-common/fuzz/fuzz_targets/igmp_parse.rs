//! Feeds arbitrary bytes to `mcastlab_common::wire::igmp::parse`: it must never panic, and what
//! it parses must emit to bytes that parse to the same message (parse -> emit -> parse).
//!
//! Arbitrary bytes almost never carry a valid Internet checksum, so each input is also parsed a
//! second time with its checksum filled in: that is the copy that reaches the type and record
//! checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcastlab_common::{
    MAX_IGMP_LEN,
    wire::igmp::{Igmp, fill_checksum, parse},
};

/// Longest message a fuzz input is cut to after checksum filling (the parser refuses longer).
const MAX_INPUT: usize = MAX_IGMP_LEN as usize + 8;

fn assert_fixpoint(message: &Igmp<'_>) {
    let mut buf = [0u8; MAX_IGMP_LEN as usize];
    let len = message
        .emit(&mut buf)
        .expect("a parsed message fits MAX_IGMP_LEN");
    assert_eq!(len, message.len());
    assert_eq!(
        parse(&buf[..len]).as_ref(),
        Ok(message),
        "emitted {:?}",
        &buf[..len]
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = parse(data) {
        assert_fixpoint(&message);
    }
    let mut checksummed = data[..data.len().min(MAX_INPUT)].to_vec();
    fill_checksum(&mut checksummed);
    if let Ok(message) = parse(&checksummed) {
        assert_fixpoint(&message);
    }
});
