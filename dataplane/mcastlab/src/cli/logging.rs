//! Log output on stderr: ours through `tracing`, aya's (which logs through the `log` crate)
//! bridged into it, at the level `-v`/`-q` choose.

use std::{
    io::IsTerminal as _,
    sync::atomic::{AtomicBool, Ordering},
};

use tracing::{Subscriber, level_filters::LevelFilter};
use tracing_log::AsLog as _;
use tracing_subscriber::fmt::MakeWriter;

/// The global `-v`/`-q` options.
#[derive(Debug, clap::Args)]
pub struct Verbosity {
    /// More log output, aya's included: -v info, -vv debug, -vvv trace (default: warnings).
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only: no warnings, no progress lines.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
}

impl Verbosity {
    /// The most detailed level to show.
    pub fn level(&self) -> LevelFilter {
        if self.quiet {
            return LevelFilter::ERROR;
        }
        match self.verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    }
}

/// Whether `-q` was given: progress lines are left out too.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether progress lines are left out (`-q`).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Sends `log` records (aya's) and `tracing` events up to `level` to stderr. Call once.
pub fn init(verbosity: &Verbosity) -> anyhow::Result<()> {
    QUIET.store(verbosity.quiet, Ordering::Relaxed);
    let level = verbosity.level();
    tracing_log::LogTracer::builder()
        .with_max_level(level.as_log())
        .init()?;
    tracing::subscriber::set_global_default(subscriber(
        level,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    ))?;
    Ok(())
}

/// A subscriber writing events up to `level` to `writer` as `LEVEL target: message`.
fn subscriber<W>(level: LevelFilter, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(writer)
        .with_ansi(ansi)
        .without_time()
        .finish()
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use clap::Parser as _;
    use tracing_log::log;

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Self;
        fn make_writer(&'w self) -> Self {
            self.clone()
        }
    }

    /// What `log` records at each level print through a subscriber for `args`.
    fn logged(args: &[&str]) -> String {
        let cli = crate::cli::Cli::parse_from(args);
        let buffer = Buffer::default();
        // Bridges `log` into whichever subscriber is current (set once per test binary).
        let _ = tracing_log::LogTracer::init();
        let subscriber = subscriber(cli.verbosity.level(), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            log::warn!(target: "aya::bpf", "object BTF couldn't be loaded in the kernel");
            log::info!(target: "aya::bpf", "an info record");
            log::debug!(target: "aya::bpf", "BPF Feature Detection");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_log_warning_of_aya_shows_by_default_and_with_v() {
        assert_eq!(
            logged(&["mcastlab", "status"]),
            " WARN aya::bpf: object BTF couldn't be loaded in the kernel\n"
        );
        assert_eq!(
            logged(&["mcastlab", "-v", "status"]),
            " WARN aya::bpf: object BTF couldn't be loaded in the kernel\n \
             INFO aya::bpf: an info record\n"
        );
        assert_eq!(
            logged(&["mcastlab", "status", "-vv"]),
            " WARN aya::bpf: object BTF couldn't be loaded in the kernel\n \
             INFO aya::bpf: an info record\n\
             DEBUG aya::bpf: BPF Feature Detection\n"
        );
    }

    #[test]
    fn q_leaves_warnings_out() {
        assert_eq!(logged(&["mcastlab", "-q", "status"]), "");
    }
}
