//! `mlxport`: port PyTorch / Hugging Face models to Apple MLX and prove the
//! port correct. This binary is a thin layer of commands over the library
//! crates; each command lives in `commands/`.

mod cli;
mod commands;
mod deprecated;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Readers allocate many small strings (tensor names, header fields); a
/// fast allocator pays off on checkpoints with tens of thousands of tensors.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Process exit codes (documented in the README).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran, and a check it performs failed.
    pub const CHECK_FAILED: u8 = 1;
    /// Bad usage, or an input that could not be read or is invalid.
    pub const USAGE_OR_INPUT: u8 = 2;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    for note in deprecated::notes(&std::env::args().collect::<Vec<_>>()) {
        eprintln!("{note}");
    }
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE_OR_INPUT)
        }
    }
}
