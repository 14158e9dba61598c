//! What the running kernel can do, checked before anything is loaded, so an old kernel gets a
//! precise message instead of a verifier dump.

use aya::{
    maps::MapType,
    programs::ProgramType,
    sys::{BpfHelper, is_helper_supported, is_map_supported},
};
use mcastlab_common::{MIN_KERNEL, MIN_KERNEL_TCX, MIN_KERNEL_VETH_PUSH_BACK};
use nix::sys::utsname::uname;

use super::error::{DataplaneError, Result};

/// A kernel release as (major, minor), e.g. (6, 18) for "6.18.44-fc-v657".
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The running kernel's release string.
pub fn release() -> String {
    uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn version_string((major, minor): (u32, u32)) -> String {
    format!("{major}.{minor}")
}

/// Why pods on NAPI delivery (`napi: true`) can lose copies of a large fan-out on this kernel:
/// its veth does not push back when a ring is full (before
/// [`MIN_KERNEL_VETH_PUSH_BACK`]); `None` where it does or the release cannot be read.
pub fn napi_loss_reason() -> Option<String> {
    napi_loss_reason_of(&release())
}

/// [`napi_loss_reason`] for kernel release `found`.
fn napi_loss_reason_of(found: &str) -> Option<String> {
    let version = parse_release(found)?;
    (version < MIN_KERNEL_VETH_PUSH_BACK).then(|| {
        format!(
            "Linux {found}: a veth with NAPI delivery does not push back when its ring is full \
             before {}, so copies of a large group to napi pods are dropped; the default \
             backlog path delivers them",
            version_string(MIN_KERNEL_VETH_PUSH_BACK)
        )
    })
}

/// Refuses kernels without what the datapath needs: the version first (see
/// `mcastlab_common::MIN_KERNEL`), then probes of each helper and map type the programs use.
pub fn check_datapath_support() -> Result<()> {
    let found = release();
    if let Some(version) = parse_release(&found)
        && version < MIN_KERNEL
    {
        return Err(DataplaneError::KernelTooOld {
            found,
            needed: version_string(MIN_KERNEL),
            feature: "the multicast dataplane (bpf_for_each_map_elem, which walks a group's \
                      fan-out list; atomics on map values, 5.12)",
        });
    }
    let helpers: [(BpfHelper, &'static str); 4] = [
        (
            BpfHelper::BPF_FUNC_for_each_map_elem,
            "helper bpf_for_each_map_elem",
        ),
        (
            BpfHelper::BPF_FUNC_clone_redirect,
            "helper bpf_clone_redirect",
        ),
        (
            BpfHelper::BPF_FUNC_skb_set_tunnel_key,
            "helper bpf_skb_set_tunnel_key",
        ),
        (
            BpfHelper::BPF_FUNC_skb_load_bytes,
            "helper bpf_skb_load_bytes",
        ),
    ];
    for (helper, feature) in helpers {
        match is_helper_supported(ProgramType::SchedClassifier, helper) {
            Ok(true) => {}
            Ok(false) => {
                return Err(DataplaneError::MissingFeature {
                    feature,
                    detail: "the kernel refuses it in tc programs".to_owned(),
                });
            }
            Err(err) => {
                return Err(DataplaneError::MissingFeature {
                    feature,
                    detail: format!("probe failed: {err}"),
                });
            }
        }
    }
    match is_map_supported(MapType::HashOfMaps) {
        Ok(true) => Ok(()),
        Ok(false) => Err(DataplaneError::MissingFeature {
            feature: "map type BPF_MAP_TYPE_HASH_OF_MAPS",
            detail: "the kernel cannot create it".to_owned(),
        }),
        Err(err) => Err(DataplaneError::MissingFeature {
            feature: "map type BPF_MAP_TYPE_HASH_OF_MAPS",
            detail: format!("probe failed: {err}"),
        }),
    }
}

/// How the programs' loops (the fan-out list's scans, the passes over a report's records and a
/// record's sources) run: the choice `object::load` writes into the programs
/// (`mcastlab_common::names::GLOBAL_USE_BPF_LOOP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loops {
    /// In `bpf_loop` (Linux 5.17+).
    BpfLoop,
    /// In `bpf_for_each_map_elem` over an array of `MAX_LOOP_STEPS` entries (5.13+), for kernels
    /// without `bpf_loop`.
    ForEachMapElem,
}

/// Environment variable that overrides the probe: `bpf_loop` or `for_each_map_elem`. The tests
/// set it to run the older kernels' loops on a newer kernel.
pub const LOOPS_ENV: &str = "MCASTLAB_LOOPS";

impl Loops {
    /// The name [`LOOPS_ENV`] takes and status output shows.
    pub fn name(self) -> &'static str {
        match self {
            Loops::BpfLoop => "bpf_loop",
            Loops::ForEachMapElem => "for_each_map_elem",
        }
    }

    /// The loops for this kernel: [`LOOPS_ENV`] if set, else `bpf_loop` where the kernel has
    /// it in tc programs (probed), else `bpf_for_each_map_elem`.
    pub fn for_this_kernel() -> Result<Self> {
        match std::env::var(LOOPS_ENV) {
            Ok(name) => Self::from_name(&name),
            Err(_) if has_bpf_loop() => Ok(Loops::BpfLoop),
            Err(_) => Ok(Loops::ForEachMapElem),
        }
    }

    /// The loops named `name` ([`Loops::name`]).
    fn from_name(name: &str) -> Result<Self> {
        [Loops::BpfLoop, Loops::ForEachMapElem]
            .into_iter()
            .find(|loops| loops.name() == name)
            .ok_or_else(|| DataplaneError::BadEnvironment {
                variable: LOOPS_ENV,
                value: name.to_owned(),
                expected: "bpf_loop or for_each_map_elem",
            })
    }
}

/// Whether tc programs can call `bpf_loop` on this kernel (Linux 5.17+,
/// `mcastlab_common::MIN_KERNEL_BPF_LOOP`), as the kernel's probe says; a failed probe says no
/// (the loops every supported kernel runs).
pub fn has_bpf_loop() -> bool {
    is_helper_supported(ProgramType::SchedClassifier, BpfHelper::BPF_FUNC_loop).unwrap_or(false)
}

/// Refuses kernels without TCX links, which mcastlab pins so the datapath outlives the CLI.
pub fn check_tcx_support() -> Result<()> {
    let found = release();
    match parse_release(&found) {
        Some(version) if version < MIN_KERNEL_TCX => Err(DataplaneError::NoTcx {
            found,
            needed: version_string(MIN_KERNEL_TCX),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Loops, napi_loss_reason_of, parse_release};

    #[test]
    fn loops_are_named_as_the_environment_names_them() {
        for loops in [Loops::BpfLoop, Loops::ForEachMapElem] {
            assert_eq!(Loops::from_name(loops.name()).expect("known"), loops);
        }
        let err = Loops::from_name("bpf-loop")
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("MCASTLAB_LOOPS") && err.contains("for_each_map_elem"),
            "{err}"
        );
    }

    #[test]
    fn napi_pods_lose_copies_only_before_the_veth_pushes_back() {
        let reason = napi_loss_reason_of("6.1.0-47-cloud-amd64").expect("6.1 drops");
        assert!(reason.contains("before 6.12"), "{reason}");
        assert_eq!(napi_loss_reason_of("6.12.95+deb12-cloud-amd64"), None);
        assert_eq!(napi_loss_reason_of("unknown"), None);
    }

    #[test]
    fn parses_distribution_releases() {
        assert_eq!(parse_release("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_release("5.10.0-32-amd64"), Some((5, 10)));
        assert_eq!(parse_release("6.1.0+"), Some((6, 1)));
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("garbage"), None);
    }
}
