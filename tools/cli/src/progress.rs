//! Progress display for the long steps (extraction, hashing, checkout).

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner with elapsed time, for steps whose size is unknown.
pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
