//! The eBPF object built from `dataplane/mcastlab-ebpf` by build.rs, embedded in the binary, and
//! how it is loaded.

use aya::{
    Ebpf, EbpfLoader,
    programs::{Program, ProgramError, SchedClassifier, Xdp},
};
use mcastlab_common::names::{GLOBAL_USE_BPF_LOOP, MAPS};

use super::{
    error::{DataplaneError, Result},
    kernel::Loops,
    pins::NodePins,
};

/// The ELF bytes of the eBPF object, aligned for parsing.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mcastlab"));

/// Parses the object and creates its maps: with `pins`, every map is the node's pinned map
/// (created and pinned if missing); without, fresh private maps. The programs' loops run as
/// [`Loops::for_this_kernel`] says.
pub fn load(pins: Option<&NodePins>) -> Result<Ebpf> {
    load_with(pins, Loops::for_this_kernel()?)
}

/// [`load`], with the programs' loops run as `loops` says.
pub fn load_with(pins: Option<&NodePins>, loops: Loops) -> Result<Ebpf> {
    let use_bpf_loop = u8::from(loops == Loops::BpfLoop);
    let mut loader = EbpfLoader::new();
    loader.override_global(GLOBAL_USE_BPF_LOOP, &use_bpf_loop, true);
    if let Some(pins) = pins {
        for name in MAPS {
            loader.map_pin_path(name, pins.map(name));
        }
    }
    loader.load(OBJECT).map_err(DataplaneError::Load)
}

/// Most tries at loading a program: the verifier gives up with EAGAIN when a signal arrives
/// while it works (a child exiting, in a process that spawns some), which says nothing about
/// the program. libbpf retries the same way.
const LOAD_ATTEMPTS: u32 = 5;

/// Loads tc program `name` of `ebpf` into the kernel (once), keeping the verifier log of a
/// refusal.
pub fn load_program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier> {
    let program: &mut SchedClassifier = open_program(ebpf, name)?;
    if program.fd().is_err() {
        load_retrying(name, || program.load())?;
    }
    Ok(program)
}

/// Loads XDP program `name` of `ebpf` into the kernel (once), keeping the verifier log of a
/// refusal.
pub fn load_xdp_program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp> {
    let program: &mut Xdp = open_program(ebpf, name)?;
    if program.fd().is_err() {
        load_retrying(name, || program.load())?;
    }
    Ok(program)
}

/// Program `name` of `ebpf` as its type `T`.
fn open_program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(DataplaneError::MissingFromObject {
            kind: "program",
            name,
        })?
        .try_into()
        .map_err(|source| DataplaneError::Program {
            action: format!("opening program {name}"),
            source,
        })
}

/// Runs `load` (program `name`'s load) until it succeeds, fails other than with EAGAIN, or
/// [`LOAD_ATTEMPTS`] tries have failed.
fn load_retrying(
    name: &'static str,
    mut load: impl FnMut() -> Result<(), ProgramError>,
) -> Result<()> {
    let mut attempt = 1;
    loop {
        let loaded = load();
        if let Err(ProgramError::LoadError { io_error, .. }) = &loaded
            && io_error.raw_os_error() == Some(libc::EAGAIN)
            && attempt < LOAD_ATTEMPTS
        {
            attempt += 1;
            continue;
        }
        return loaded.map_err(|err| match err {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => DataplaneError::Verifier {
                program: name,
                log: verifier_log.to_string(),
                source: io_error,
            },
            source => DataplaneError::Program {
                action: format!("loading program {name}"),
                source,
            },
        });
    }
}
