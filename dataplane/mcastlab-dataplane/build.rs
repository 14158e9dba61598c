//! Builds the eBPF crate (`dataplane/mcastlab-ebpf`) for bpfel-unknown-none with aya-build and
//! leaves the object in OUT_DIR, where `src/object.rs` embeds it.
//! Needs nightly's rust-src and bpf-linker: `scripts/setup.sh` installs both.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let ebpf_dir = Path::new(manifest_dir).join("../mcastlab-ebpf");
    let common_dir = Path::new(manifest_dir).join("../mcastlab-common");
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
