//! Terminal output: tables for people, sizes in readable units, progress.

use comfy_table::{presets, CellAlignment, ContentArrangement, Table as Inner};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A plain aligned table.
pub struct Table {
    inner: Inner,
    right: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut inner = Inner::new();
        inner.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
        Table { inner, right: Vec::new() }
    }
    /// Right-align these columns (numbers).
    pub fn right_align(&mut self, cols: &[usize]) {
        self.right.extend_from_slice(cols);
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.inner.add_row(cells);
    }
    pub fn print(mut self) {
        for &c in &self.right {
            if let Some(col) = self.inner.column_mut(c) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        for line in self.inner.lines() {
            println!("{}", line.trim_end());
        }
    }
}

pub use mlxport_util::human::{bytes as human_bytes, count as human_count};

/// A progress bar on stderr, shown only when stderr is a terminal.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn bytes(total: u64, what: &str) -> Self {
        if !std::io::stderr().is_terminal() || total < (64 << 20) {
            return Progress(None);
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        Progress(Some(pb))
    }
    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(n);
        }
    }
    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

/// A byte progress bar created on the first report, for work whose total
/// is known only once it starts (conversion, quantization). Returns the
/// callback and a handle to finish the bar with.
pub fn byte_progress(what: &'static str) -> (mlxport_convert::convert::ProgressFn, std::sync::Arc<std::sync::OnceLock<Progress>>) {
    let bar: std::sync::Arc<std::sync::OnceLock<Progress>> = Default::default();
    let b = bar.clone();
    let tell = move |n: u64, total: u64| b.get_or_init(|| Progress::bytes(total, what)).inc(n);
    (std::sync::Arc::new(tell), bar)
}

pub use mlxport_util::fs::write_atomic;
