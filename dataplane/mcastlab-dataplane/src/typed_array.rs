//! Creating inner maps with BTF types for their keys and values: a group's fan-out list (`u32`
//! keys, `u64` values) and the seed baseline's subscriber hashes (`u32` keys, structs of `u32`s).
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
/// `BPF_MAP_TYPE_HASH`, `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BTF_KIND_INT`, `BTF_KIND_ARRAY`, `BTF_KIND_STRUCT`, shifted into `btf_type.info`.
const BTF_KIND_INT: u32 = 1 << 24;
const BTF_KIND_ARRAY: u32 = 3 << 24;
const BTF_KIND_STRUCT: u32 = 4 << 24;
/// Type id of `u32` and `u64` in [`integer_btf`] (0 is void).
const U32_TYPE_ID: u32 = 1;
const U64_TYPE_ID: u32 = 2;

/// Creates `BPF_MAP_TYPE_ARRAY` `name` of `max_entries` `u64` values with `flags`, typed with
/// BTF (`u32` keys, `u64` values).
pub fn create_u64_array(name: &str, max_entries: u32, flags: u32) -> io::Result<MapData> {
    let btf = load_btf(&integer_btf())?;
    let value_size = size_of::<u64>() as u32;
    let types = (U32_TYPE_ID, U64_TYPE_ID);
    create_map(
        BPF_MAP_TYPE_ARRAY,
        name,
        value_size,
        max_entries,
        flags,
        &btf,
        types,
    )
}

/// Creates `BPF_MAP_TYPE_HASH` `name` of up to `max_entries` values of `value_words` `u32`s
/// with `flags`, typed with BTF (`u32` keys, values a struct of `u32[value_words]`): the seed
/// baseline's subscriber hashes ([`crate::seed`]), equal to their template on every kernel for
/// the same reason as the arrays.
pub fn create_u32_keyed_hash(
    name: &str,
    value_words: u32,
    max_entries: u32,
    flags: u32,
) -> io::Result<MapData> {
    let btf = load_btf(&words_btf(value_words))?;
    let value_size = value_words * size_of::<u32>() as u32;
    let types = (U32_TYPE_ID, WORDS_TYPE_ID);
    create_map(
        BPF_MAP_TYPE_HASH,
        name,
        value_size,
        max_entries,
        flags,
        &btf,
        types,
    )
}

/// `BPF_MAP_CREATE` of a map with `u32` keys, typed by `btf`'s (key, value) type ids.
fn create_map(
    map_type: u32,
    name: &str,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    btf: &OwnedFd,
    (key_type, value_type): (u32, u32),
) -> io::Result<MapData> {
    let mut attr = [0u8; 72];
    put(&mut attr, 0, map_type);
    put(&mut attr, 4, size_of::<u32>() as u32);
    put(&mut attr, 8, value_size);
    put(&mut attr, 12, max_entries);
    put(&mut attr, 16, flags);
    let name = name.as_bytes();
    let len = name.len().min(15);
    attr[28..28 + len].copy_from_slice(&name[..len]);
    put(&mut attr, 48, btf.as_raw_fd() as u32);
    put(&mut attr, 52, key_type);
    put(&mut attr, 56, value_type);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    MapData::from_fd(fd).map_err(io::Error::other)
}

/// Type id of `struct seed_subscriber { u32 words[value_words]; }` in [`words_btf`].
const WORDS_TYPE_ID: u32 = 3;

/// A BTF blob with `u32` (id 1), an array of `words` of them (id 2) and a struct holding that
/// array (id 3). The value type is the struct because the template's value is one
/// (`SeedSubscriber`): before Linux 6.2 the kernel looks for a timer only in a struct value and
/// records -EINVAL for any other, so a bare array would not equal the template.
fn words_btf(words: u32) -> Vec<u8> {
    let strings: &[u8] = b"\0u32\0seed_subscriber\0words\0";
    let (u32_name, struct_name, member_name) = (1, 5, 21);
    let mut types = Vec::new();
    // struct btf_type + its int encoding: "u32", 4 bytes, 32 bits.
    for word in [u32_name, BTF_KIND_INT, 4, 32] {
        types.extend_from_slice(&u32::to_ne_bytes(word));
    }
    // struct btf_type (anonymous array) + struct btf_array { type, index_type, nelems }.
    for word in [0, BTF_KIND_ARRAY, 0, U32_TYPE_ID, U32_TYPE_ID, words] {
        types.extend_from_slice(&u32::to_ne_bytes(word));
    }
    // struct btf_type (a struct of one member, 4 * words bytes) + struct btf_member
    // { name_off, type, offset in bits }.
    for word in [
        struct_name,
        BTF_KIND_STRUCT | 1,
        4 * words,
        member_name,
        2,
        0,
    ] {
        types.extend_from_slice(&u32::to_ne_bytes(word));
    }
    btf_blob(&types, strings)
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
    btf_blob(&types, strings)
}

/// A BTF blob: the header, then `types` and `strings`.
fn btf_blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
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
    blob.extend_from_slice(types);
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
    use super::{integer_btf, words_btf};

    #[test]
    fn the_btf_blob_has_a_header_two_ints_and_their_names() {
        let blob = integer_btf();
        assert_eq!(blob.len(), 24 + 32 + 9);
        assert_eq!(&blob[0..2], &0xeb9f_u16.to_ne_bytes());
        assert_eq!(&blob[blob.len() - 9..], b"\0u32\0u64\0");
    }

    #[test]
    fn the_words_btf_has_an_int_an_array_of_it_and_a_struct_of_the_array() {
        let blob = words_btf(3);
        let strings = b"\0u32\0seed_subscriber\0words\0";
        // Header, the int (16 bytes), the array (24 bytes), the struct (12 + one 12-byte
        // member), the names.
        assert_eq!(blob.len(), 24 + 16 + 24 + 24 + strings.len());
        assert_eq!(&blob[blob.len() - strings.len()..], strings);
        let word = |at: usize| u32::from_ne_bytes(blob[at..at + 4].try_into().expect("4 bytes"));
        // The array's btf_type.info, then btf_array { type: 1, index_type: 1, nelems: 3 }.
        assert_eq!(word(24 + 16 + 4), 3 << 24);
        assert_eq!([word(52), word(56), word(60)], [1, 1, 3]);
        // The struct: "seed_subscriber", one member, 12 bytes; its member "words" is the array
        // (type 2) at bit 0.
        assert_eq!([word(64), word(68), word(72)], [5, (4 << 24) | 1, 12]);
        assert_eq!([word(76), word(80), word(84)], [21, 2, 0]);
    }
}
