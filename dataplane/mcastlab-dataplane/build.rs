//! Builds the eBPF crate (`dataplane/mcastlab-ebpf`) for bpfel-unknown-none with aya-build and
//! leaves the object in OUT_DIR, where `src/object.rs` embeds it.
//! Needs nightly's rust-src and bpf-linker: `scripts/setup.sh` installs both.
//!
//! Under clippy (cargo runs rustc through `clippy-driver`, its workspace wrapper) the object is
//! an empty placeholder: clippy only checks, nothing runs the object, and its OUT_DIR is its own
//! (the wrapper is part of a workspace crate's build hash), so a clean clone's `cargo clippy`
//! would otherwise build the eBPF crate, core included, a second time. The eBPF crate has its
//! own clippy run (`scripts/test.sh`).

use std::{env, path::Path};

fn main() -> anyhow::Result<()> {
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let ebpf_dir = Path::new(manifest_dir).join("../mcastlab-ebpf");
    let common_dir = Path::new(manifest_dir).join("../mcastlab-common");
    println!("cargo:rerun-if-env-changed=RUSTC_WORKSPACE_WRAPPER");
    if under_clippy() {
        let out_dir = env::var_os("OUT_DIR").ok_or_else(|| anyhow::anyhow!("OUT_DIR not set"))?;
        std::fs::write(Path::new(&out_dir).join("mcastlab"), [])?;
        return Ok(());
    }
    // aya-build watches the eBPF crate; the shared crate changes the object too.
    println!("cargo:rerun-if-changed={}", common_dir.display());
    let ebpf_dir = ebpf_dir.to_str().expect("eBPF crate path is UTF-8");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "mcastlab-ebpf",
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}

/// Whether cargo compiles the workspace through clippy (`cargo clippy`).
fn under_clippy() -> bool {
    env::var_os("RUSTC_WORKSPACE_WRAPPER")
        .and_then(|wrapper| {
            Path::new(&wrapper)
                .file_stem()
                .map(|stem| stem == "clippy-driver")
        })
        .unwrap_or(false)
}
