//! Creating a group's fan-out list with BTF types for its key (`u32`) and value (`u64`).
//!
//! The kernel checks an inner map against the group map's BTF-defined template before it takes
//! it, and before Linux 6.2 that check compares `timer_off`: a map made with BTF and no timer
//! has -ENOENT there, a map made without BTF -EINVAL, so a BTF-less array is refused with EINVAL
//! (seen on Debian's 6.1). Giving the arrays a BTF of their own (two integer types, loaded once
//! per call) makes them equal to the template on every kernel. aya 0.14 cannot create a map with
//! BTF type ids from outside an object, hence the two raw `bpf()` calls here.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use aya::maps::MapData;

/// `BPF_MAP_CREATE`, `BPF_BTF_LOAD` (include/uapi/linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_BTF_LOAD: libc::c_long = 18;
/// `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BTF_KIND_INT`, shifted into `btf_type.info`.
const BTF_KIND_INT: u32 = 1 << 24;
/// Type id of `u32` and `u64` in [`integer_btf`] (0 is void).
const U32_TYPE_ID: u32 = 1;
const U64_TYPE_ID: u32 = 2;

/// Creates `BPF_MAP_TYPE_ARRAY` `name` of `max_entries` `u64` values with `flags`, typed with
/// BTF (`u32` keys, `u64` values).
pub fn create_u64_array(name: &str, max_entries: u32, flags: u32) -> io::Result<MapData> {
    let btf = load_btf(&integer_btf())?;
    let mut attr = [0u8; 72];
    put(&mut attr, 0, BPF_MAP_TYPE_ARRAY);
    put(&mut attr, 4, size_of::<u32>() as u32);
    put(&mut attr, 8, size_of::<u64>() as u32);
    put(&mut attr, 12, max_entries);
    put(&mut attr, 16, flags);
    let name = name.as_bytes();
    let len = name.len().min(15);
    attr[28..28 + len].copy_from_slice(&name[..len]);
    put(&mut attr, 48, btf.as_raw_fd() as u32);
    put(&mut attr, 52, U32_TYPE_ID);
    put(&mut attr, 56, U64_TYPE_ID);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    MapData::from_fd(fd).map_err(io::Error::other)
}

/// A BTF blob with two integer types: `u32` (id 1) and `u64` (id 2).
fn integer_btf() -> Vec<u8> {
    let strings: &[u8] = b"\0u32\0u64\0";
    let mut types = Vec::new();
    for (name_offset, bytes) in [(1u32, 4u32), (5, 8)] {
        for word in [name_offset, BTF_KIND_INT, bytes, bytes * 8] {
            types.extend_from_slice(&word.to_ne_bytes());
        }
    }
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9f_u16.to_ne_bytes()); // magic
    blob.extend_from_slice(&[1, 0]); // version, flags
    for word in [
        24,                   // hdr_len
        0,                    // type_off
        types.len() as u32,   // type_len
        types.len() as u32,   // str_off
        strings.len() as u32, // str_len
    ] {
        blob.extend_from_slice(&word.to_ne_bytes());
    }
    blob.extend_from_slice(&types);
    blob.extend_from_slice(strings);
    blob
}

fn load_btf(blob: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = [0u8; 32];
    attr[0..8].copy_from_slice(&(blob.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 16, blob.len() as u32);
    bpf(BPF_BTF_LOAD, &mut attr)
}

fn put(attr: &mut [u8], offset: usize, value: u32) {
    attr[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
}

fn bpf(command: libc::c_long, attr: &mut [u8]) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a zero-initialised `union bpf_attr` prefix of the given size with the
    // fields of `command` filled in; pointers in it outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::integer_btf;

    #[test]
    fn the_btf_blob_has_a_header_two_ints_and_their_names() {
        let blob = integer_btf();
        assert_eq!(blob.len(), 24 + 32 + 9);
        assert_eq!(&blob[0..2], &0xeb9f_u16.to_ne_bytes());
        assert_eq!(&blob[blob.len() - 9..], b"\0u32\0u64\0");
    }
}
