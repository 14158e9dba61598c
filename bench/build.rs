//! Records the commit the benchmark is built from, so that a result names the code that ran and
//! not the checkout a run happened to start in (`MCASTLAB_BUILD_COMMIT`, read by
//! `environment.rs`).

use std::process::Command;

/// The trimmed output of a successful `git` command.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    // A commit, checkout or `git add` changes these; the build then records the new commit.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for path in ["HEAD", "index"].into_iter().chain(branch.as_deref()) {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MCASTLAB_BUILD_COMMIT={commit}");
}
