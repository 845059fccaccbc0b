//! Publishing a finished port: the model package and the engineering report.
//!
//! The crate's one job is to turn a PORT_DIR (the layout `mlxport port`
//! writes: `port.json` plus the artifacts of every step) into what leaves
//! the machine.
//!
//! - [`portdir::PortDir`]: the PORT_DIR read and verified (schema, relative
//!   artifact paths, SHA-256 of every artifact `port.json` lists); its
//!   versioned documents are read with their types (`port.json`, the
//!   parity and quality reports, bench receipts).
//! - [`license::gate`]: the license verdict of the inspection enforced.
//! - [`package::package`]: a publishable MLX model folder with a model card
//!   ([`card`]), a manifest of every file ([`package::PackageManifest`],
//!   `mlxport.package/v1`), a smoke test ([`smoke`]) and a
//!   scan for local paths and secrets ([`scan`]).
//! - [`Error`]: one error type; [`Error::Refused`] is what a port shows as
//!   blocked, the other variants name the file and the rule it breaks.
//! - [`report::build`]: the engineering report as a versioned JSON value,
//!   rendered to Markdown and to one self-contained HTML page
//!   ([`report::markdown`], [`report::html`]).
//!
//! ```no_run
//! use std::path::Path;
//! use mlxport_publish::{package, report};
//! let port_dir = Path::new("port-out/all-minilm-l6-v2");
//! match package::package(port_dir, Path::new("dist/all-minilm-l6-v2"), &package::Options::default()) {
//!     Ok(p) => println!("packaged {} files into {}", p.manifest.files.len(), p.out.display()),
//!     Err(mlxport_publish::Error::Refused(why)) => eprintln!("blocked: {why}"),
//!     Err(e) => return Err(e),
//! }
//! let r = report::write(port_dir, &port_dir.join("report"))?;
//! println!("{}", r["schema"]);
//! # Ok::<(), mlxport_publish::Error>(())
//! ```

pub mod card;
mod error;
pub mod license;
pub mod package;
pub mod portdir;
pub mod report;
pub mod scan;
pub mod smoke;
pub mod source_card;
mod text;

pub use error::{Error, Result};
