//! The progress bar of a long replay, drawn only when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` dead letters; hidden unless stderr is a terminal, so
/// logs and pipes never see it.
pub fn bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("[{wide_bar}] {pos}/{len} read, {eta} left") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
