//! One knob for how patient the privileged tests are: their deadlines and slacks are the real
//! machine's, multiplied by `MCASTLAB_TEST_TIME_SCALE` where the kernel runs emulated (the qemu
//! kernel matrix, where every instruction costs tens of times more). Protocol timers are never
//! scaled: only how long a test waits for them.

use std::time::Duration;

/// The environment variable that multiplies every e2e deadline and slack (a positive integer;
/// unset means 1). Set by `scripts/kernel-matrix.sh`; a real machine never needs it.
pub const TIME_SCALE_ENV: &str = "MCASTLAB_TEST_TIME_SCALE";

/// `base` times the test time scale.
///
/// # Panics
/// If `MCASTLAB_TEST_TIME_SCALE` is set but is not a positive integer: a typo must not make a
/// run quietly impatient.
pub fn scaled(base: Duration) -> Duration {
    base * time_scale()
}

/// The test time scale: `MCASTLAB_TEST_TIME_SCALE`, or 1.
fn time_scale() -> u32 {
    match std::env::var(TIME_SCALE_ENV) {
        Err(_) => 1,
        Ok(value) => value
            .parse()
            .ok()
            .filter(|&scale| scale > 0)
            .unwrap_or_else(|| panic!("{TIME_SCALE_ENV}={value:?}: expected a positive integer")),
    }
}
