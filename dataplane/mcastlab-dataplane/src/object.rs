//! The eBPF object built from `dataplane/mcastlab-ebpf` by build.rs, embedded in the binary, and
//! how it is loaded.

use aya::{
    Ebpf, EbpfLoader,
    programs::{ProgramError, SchedClassifier},
};
use mcastlab_common::names::MAPS;

use super::{
    error::{DataplaneError, Result},
    pins::NodePins,
};

/// The ELF bytes of the eBPF object, aligned for parsing.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mcastlab"));

/// Parses the object and creates its maps: with `pins`, every map is the node's pinned map
/// (created and pinned if missing); without, fresh private maps.
pub fn load(pins: Option<&NodePins>) -> Result<Ebpf> {
    let mut loader = EbpfLoader::new();
    if let Some(pins) = pins {
        for name in MAPS {
            loader.map_pin_path(name, pins.map(name));
        }
    }
    loader.load(OBJECT).map_err(DataplaneError::Load)
}

/// Loads program `name` of `ebpf` into the kernel (once), keeping the verifier log of a refusal.
pub fn load_program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier> {
    let program: &mut SchedClassifier = ebpf
        .program_mut(name)
        .ok_or(DataplaneError::MissingFromObject {
            kind: "program",
            name,
        })?
        .try_into()
        .map_err(|source| DataplaneError::Program {
            action: format!("opening program {name}"),
            source,
        })?;
    if program.fd().is_err() {
        program.load().map_err(|err| match err {
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
        })?;
    }
    Ok(program)
}
