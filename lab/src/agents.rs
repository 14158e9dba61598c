//! The node agents of a lab deployed by `mcastlab up`: one `mcastlab agent --node <node>`
//! process per node deployed here, started in a session of its own so that it outlives the
//! command, recorded in `/run/mcastlab/agents/<node>.pid` (its log beside it), and stopped by
//! that recorded PID when the lab goes down.

use std::{
    fs, io,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use mcastlab_agent::{Peering, Settings};

use crate::{LabError, Result};

/// Where the agents record themselves (tmpfs: gone after a reboot, like the labs).
pub const AGENTS_DIR: &str = "/run/mcastlab/agents";
/// How long a stopped agent may take to exit before `down` gives up on it.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How often `down` looks whether an agent has exited.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The PID file of `node`'s agent.
pub fn pid_file(node: &str) -> PathBuf {
    Path::new(AGENTS_DIR).join(format!("{node}.pid"))
}

/// Starts `exe agent --node <node>` with `settings` and `peering` (`--underlay-address`,
/// `--peer`) in a session of its own, logging to `<node>.log`; returns its PID.
pub fn start(exe: &Path, node: &str, settings: &Settings, peering: &Peering) -> Result<u32> {
    fs::create_dir_all(AGENTS_DIR).map_err(LabError::Io)?;
    let log = fs::File::create(Path::new(AGENTS_DIR).join(format!("{node}.log")))
        .map_err(LabError::Io)?;
    let mut command = Command::new(exe);
    command
        .args(["agent", "--node", node])
        .arg("--query-interval")
        .arg(settings.query_interval.as_secs().to_string())
        .arg("--query-response-interval")
        .arg(format!(
            "{:.1}",
            settings.query_response_interval.as_secs_f64()
        ))
        .arg("--robustness")
        .arg(settings.robustness.to_string())
        .arg("--underlay-address")
        .arg(format!("{}/{}", peering.address, peering.prefix_len));
    if !peering.peers.is_empty() {
        let peers: Vec<String> = peering.peers.iter().map(ToString::to_string).collect();
        command.arg("--peer").arg(peers.join(","));
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(LabError::Io)?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the child leaves the terminal's process group, so
    // the command's Ctrl-C does not reach the agent.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let child = command.spawn().map_err(LabError::Io)?;
    let pid = child.id();
    fs::write(pid_file(node), format!("{pid}\n")).map_err(LabError::Io)?;
    Ok(pid)
}

/// Stops the recorded agent of every node whose name starts with `prefix`: SIGTERM to the
/// recorded PID (only while that process still is an agent of that node), then waits for it
/// to exit. Returns the nodes whose agent was stopped.
pub fn stop_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let entries = match fs::read_dir(AGENTS_DIR) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(LabError::Io(err)),
    };
    let mut nodes: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".pid").map(str::to_owned))
        .filter(|node| node.starts_with(prefix))
        .collect();
    nodes.sort();
    let mut stopped = Vec::new();
    for node in nodes {
        if stop(&node)? {
            stopped.push(node.clone());
        }
        let _ = fs::remove_file(pid_file(&node));
        let _ = fs::remove_file(Path::new(AGENTS_DIR).join(format!("{node}.log")));
        // An agent that could not clean up (killed) leaves its monitor socket behind.
        let _ = fs::remove_file(mcastlab_agent::monitor::socket_path(&node));
    }
    Ok(stopped)
}

/// Stops `node`'s recorded agent; `false` when none runs.
fn stop(node: &str) -> Result<bool> {
    let Ok(text) = fs::read_to_string(pid_file(node)) else {
        return Ok(false);
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(false);
    };
    if !is_agent_of(pid, node) {
        return Ok(false);
    }
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + STOP_DEADLINE;
    while is_running(pid.as_raw()) {
        if Instant::now() >= deadline {
            return Err(LabError::Io(io::Error::other(format!(
                "the agent of {node} (pid {pid}) did not exit within {STOP_DEADLINE:?}"
            ))));
        }
        std::thread::sleep(STOP_POLL);
    }
    Ok(true)
}

/// Whether process `pid` runs `mcastlab agent --node <node>` (not a process that took over a
/// recycled PID).
fn is_agent_of(pid: i32, node: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    args.windows(2)
        .any(|w| w == [b"--node".as_slice(), node.as_bytes()])
        && args.iter().any(|a| *a == b"agent")
}

/// Whether `pid` exists and is not a zombie.
fn is_running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
