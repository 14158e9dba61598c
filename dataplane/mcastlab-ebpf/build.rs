use which::which;

/// Rebuilds the eBPF object when bpf-linker changes: cargo does not see the linker otherwise.
fn main() {
    let bpf_linker = which("bpf-linker").expect("bpf-linker not found; run scripts/setup.sh");
    println!("cargo:rerun-if-changed={}", bpf_linker.display());
}
