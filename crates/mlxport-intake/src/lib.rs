//! Model intake: classify a checkpoint from its files alone, statically and
//! safely — nothing in the model is ever imported or executed.
//!
//! The crate's one job is [`inspect`]: walk a model path ([`walk`]), hash
//! every file ([`digest`]), read its configs ([`configs`]), tensors, risks,
//! license and size, route it to an architecture family, and say plainly
//! what blocks a port and how to fix it.
//!
//! ```no_run
//! use mlxport_intake::{inspect, Options};
//! let report = inspect("model_dir".as_ref(), &Options::default())?;
//! println!("family {:?}, {} parameters", report.routing.family, report.tensors.parameters);
//! for b in &report.blockers {
//!     println!("blocker {}: {} ({})", b.id, b.message, b.remediation.as_deref().unwrap_or("no remediation"));
//! }
//! # Ok::<(), mlxport_intake::Error>(())
//! ```

pub mod configs;
pub mod digest;
pub mod error;
pub mod fit;
pub mod inspect;
pub mod json;
pub mod license;
pub mod markdown;
pub mod quant;
pub mod risks;
pub mod routing;
pub mod tensor_cache;
pub mod walk;

pub use error::{Error, Result};
pub use inspect::{inspect, Inspection, Options};
