//! Publishing a finished port: the model package and the engineering report.
//!
//! The crate's one job is to turn a PORT_DIR (the layout `mlxport port`
//! writes: `port.json` plus the artifacts of every step) into what leaves
//! the machine.
//!
//! - [`portdir::PortDir`]: the PORT_DIR read and verified (schema, relative
//!   artifact paths, SHA-256 of every artifact `port.json` lists).
//! - [`license::gate`]: the license verdict of the inspection enforced.
//! - [`package::package`]: a publishable MLX model folder with a model card
//!   ([`card`]), a manifest of every file, a smoke test ([`smoke`]) and a
//!   scan for local paths and secrets ([`scan`]).
//! - [`report::build`]: the engineering report as a versioned JSON value,
//!   rendered to Markdown and to one self-contained HTML page
//!   ([`report::markdown`], [`report::html`]).
//!
//! ```no_run
//! use std::path::Path;
//! use mlxport_publish::{package, report};
//! let port_dir = Path::new("port-out/all-minilm-l6-v2");
//! let r = report::write(port_dir, &port_dir.join("report"))?;
//! println!("{}", r["schema"]);
//! let out = std::env::current_dir()?.join("dist/all-minilm-l6-v2");
//! let p = package::package(port_dir, &out, &package::Options::default())?;
//! println!("packaged into {}", p.out.display());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod card;
pub mod license;
pub mod package;
pub mod portdir;
pub mod report;
pub mod scan;
pub mod smoke;
mod text;

/// A check the command performs failed (exit code 1): a refused license, a
/// local path or secret in the output, a failed smoke test.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}
