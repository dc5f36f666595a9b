//! A test hook for the crash-safety tests: with
//! `SERIES_APPLY_KILL_AT=N` in the environment, the process sends itself
//! SIGKILL at the N-th step that writes to the repository (lock, journal
//! record, work tree file, rename); with `SERIES_APPLY_FAIL_AT=N` that
//! step fails with an I/O-like error instead. Without the variables it
//! costs one relaxed atomic increment per step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static STEPS: AtomicU64 = AtomicU64::new(0);

fn kill_at() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var("SERIES_APPLY_KILL_AT").ok()?.parse().ok())
}

fn fail_at() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var("SERIES_APPLY_FAIL_AT").ok()?.parse().ok())
}

/// Marks one write step; dies or fails here when the test asked for it.
pub fn step() -> anyhow::Result<()> {
    let n = STEPS.fetch_add(1, Ordering::Relaxed) + 1;
    if fail_at() == Some(n) {
        anyhow::bail!("injected failure at write step {n} (SERIES_APPLY_FAIL_AT)");
    }
    if kill_at() == Some(n) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // SIGKILL arrives before kill(1) returns; without kill(1), die anyway.
        std::thread::sleep(std::time::Duration::from_secs(2));
        std::process::abort();
    }
    Ok(())
}

/// How many steps ran so far (the tests use it to know the last point).
pub fn steps() -> u64 {
    STEPS.load(Ordering::Relaxed)
}
