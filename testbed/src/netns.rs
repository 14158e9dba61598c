//! Opening sockets inside a pod's namespace: a socket belongs to the namespace of the thread
//! that created it, wherever it is used afterwards.

use std::io;

use netns_rs::NetNs;

/// Runs `f` with this thread inside namespace `name` (`ip netns` name), then returns.
pub fn run_in<T>(name: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let ns = NetNs::get(name).map_err(|err| {
        io::Error::new(io::ErrorKind::NotFound, format!("namespace {name}: {err}"))
    })?;
    ns.run(|_| f())
        .map_err(|err| io::Error::other(format!("entering namespace {name}: {err}")))?
}

/// The ifindex of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name"))?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}
