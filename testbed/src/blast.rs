//! Saturating traffic for benchmarks: a `sendmmsg` sender and a `recvmmsg` collector, each on a
//! thread pinned to one CPU, so that the generator is not what limits the measurement (and when
//! it is, the sender's own counters say so).

use std::{
    io,
    mem::MaybeUninit,
    net::SocketAddrV4,
    os::fd::{AsRawFd, RawFd},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{netns::run_in, sender::sender_socket};

/// Messages per `sendmmsg`/`recvmmsg` call.
pub const BATCH: usize = 64;
/// Receive buffer asked for each collector socket (SO_RCVBUFFORCE; needs root).
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is empty; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: a valid set for the calling thread (pid 0).
    let ret = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Messages per system call when paced at [`SINGLE_SEND_BELOW`] packets/s or more: small
/// bursts, so that a fixed rate stays smooth.
pub const PACED_BATCH: usize = 4;
/// Below this rate (packets/s) a paced sender sends one datagram per call: at high fan-out a
/// burst multiplies into thousands of copies queued at once.
pub const SINGLE_SEND_BELOW: u64 = 10_000;

/// A sender that sends to `destinations` round-robin until stopped: as fast as it can, `BATCH`
/// messages per system call, or paced at a fixed rate. `sent` counts datagrams the kernel
/// accepted.
pub struct Blaster {
    /// Datagrams accepted by the kernel so far.
    pub sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl Blaster {
    /// Starts sending from namespace `netns` on a thread pinned to `cpu`, at `rate` datagrams
    /// per second (`None`: as fast as the kernel takes them).
    pub fn start(
        netns: &str,
        destinations: Vec<SocketAddrV4>,
        size: usize,
        cpu: usize,
        rate: Option<u64>,
    ) -> io::Result<Self> {
        let socket = sender_socket(netns)?;
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (sent, stop) = (sent.clone(), stop.clone());
            thread::spawn(move || {
                pin_to_cpu(cpu)?;
                send_loop(&socket, &destinations, size, rate, &sent, &stop)
            })
        };
        Ok(Self {
            sent,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the sender and returns its error, if it had one.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("sender thread")
    }
}

impl Drop for Blaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn send_loop(
    socket: &Socket,
    destinations: &[SocketAddrV4],
    size: usize,
    rate: Option<u64>,
    sent: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let batch = match rate {
        Some(rate) if rate < SINGLE_SEND_BELOW => 1,
        Some(_) => PACED_BATCH,
        None => BATCH,
    };
    let start = std::time::Instant::now();
    let mut total: u64 = 0;
    let payload = vec![0x5au8; size];
    let addresses: Vec<SockAddr> = destinations.iter().map(|d| (*d).into()).collect();
    let mut iovecs = [libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    }; BATCH];
    // SAFETY: all-zero mmsghdr is valid; pointers are set below.
    let mut messages: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    let mut next = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(total as f64 / rate as f64);
            let now = std::time::Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        for (i, message) in messages.iter_mut().enumerate() {
            let address = &addresses[(next + i) % addresses.len()];
            message.msg_hdr.msg_name = address.as_ptr() as *mut libc::c_void;
            message.msg_hdr.msg_namelen = address.len();
            message.msg_hdr.msg_iov = &mut iovecs[i];
            message.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: BATCH valid messages whose buffers outlive the call.
        let n =
            unsafe { libc::sendmmsg(socket.as_raw_fd(), messages.as_mut_ptr(), batch as u32, 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // Full queues: the path is saturated, go on.
                Some(libc::ENOBUFS | libc::EAGAIN) => continue,
                _ => return Err(err),
            }
        }
        next = (next + n as usize) % addresses.len();
        total += n as u64;
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Receives on many sockets (one per receiver pod) from one thread pinned to a CPU, counting
/// datagrams per socket.
pub struct Collector {
    /// Datagrams received per socket, in the order the sockets were given.
    pub received: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<io::Result<Vec<Socket>>>>,
}

impl Collector {
    /// Starts collecting from `sockets` on a thread pinned to `cpu`.
    pub fn start(sockets: Vec<Socket>, cpu: usize) -> io::Result<Self> {
        for socket in &sockets {
            socket.set_nonblocking(true)?;
            let size = RECEIVE_BUFFER;
            // SAFETY: a valid int option; failing leaves the default buffer.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    std::ptr::from_ref(&size).cast(),
                    size_of::<libc::c_int>() as u32,
                )
            };
        }
        let received: Arc<Vec<AtomicU64>> =
            Arc::new(sockets.iter().map(|_| AtomicU64::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            thread::spawn(move || {
                pin_to_cpu(cpu)?;
                collect_loop(&sockets, &received, &stop)?;
                Ok(sockets)
            })
        };
        Ok(Self {
            received,
            stop,
            thread: Some(thread),
        })
    }

    /// The per-socket counts now.
    pub fn snapshot(&self) -> Vec<u64> {
        self.received
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Stops collecting and gives the sockets back (or the collector's error).
    pub fn stop(mut self) -> io::Result<Vec<Socket>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("collector thread")
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn collect_loop(sockets: &[Socket], received: &[AtomicU64], stop: &AtomicBool) -> io::Result<()> {
    // SAFETY: plain epoll_create1.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    let _close = CloseOnDrop(epoll);
    for (i, socket) in sockets.iter().enumerate() {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: valid descriptors and event.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, socket.as_raw_fd(), &mut event) }
            < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    let mut buffers = vec![[MaybeUninit::<u8>::uninit(); 2048]; BATCH];
    let mut iovecs: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: all-zero mmsghdr is valid; iovecs are set below.
    let mut messages: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (message, iovec) in messages.iter_mut().zip(iovecs.iter_mut()) {
        message.msg_hdr.msg_iov = iovec;
        message.msg_hdr.msg_iovlen = 1;
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; sockets.len().max(1)];
    let timeout_ms = Duration::from_millis(50).as_millis() as i32;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: a valid epoll descriptor and event buffer.
        let ready = unsafe {
            libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        for event in &events[..ready as usize] {
            let index = event.u64 as usize;
            let fd: RawFd = sockets[index].as_raw_fd();
            loop {
                // SAFETY: BATCH messages with valid buffers.
                let n = unsafe {
                    libc::recvmmsg(
                        fd,
                        messages.as_mut_ptr(),
                        BATCH as u32,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if n <= 0 {
                    break;
                }
                received[index].fetch_add(n as u64, Ordering::Relaxed);
                if (n as usize) < BATCH {
                    break;
                }
            }
        }
    }
    Ok(())
}

struct CloseOnDrop(RawFd);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// A UDP socket in namespace `netns` bound to `address` (a group or a unicast address), joined
/// to the group when `address` is multicast.
pub fn receiver_socket(netns: &str, address: SocketAddrV4) -> io::Result<Socket> {
    run_in(netns, || {
        let socket = bound_socket(address)?;
        if address.ip().is_multicast() {
            socket.join_multicast_v4(address.ip(), &std::net::Ipv4Addr::UNSPECIFIED)?;
        }
        Ok(socket)
    })
}

/// A UDP socket in namespace `netns` bound to group `address`, joined for datagrams from
/// `source` only (`IP_ADD_SOURCE_MEMBERSHIP`: the kernel reports INCLUDE{source}).
pub fn source_receiver_socket(
    netns: &str,
    source: std::net::Ipv4Addr,
    address: SocketAddrV4,
) -> io::Result<Socket> {
    run_in(netns, || {
        let socket = bound_socket(address)?;
        socket.join_ssm_v4(&source, address.ip(), &std::net::Ipv4Addr::UNSPECIFIED)?;
        Ok(socket)
    })
}

/// A UDP socket bound to `address`, the address reusable (every receiver of a pod binds it).
fn bound_socket(address: SocketAddrV4) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}
