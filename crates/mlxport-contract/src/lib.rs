//! The PORT_DIR contract, defined once: `port.json` ([`port::PortRecord`],
//! schema `mlxport.port/v1`) and the small vocabularies that the workflow,
//! the report and the package share as enums that serialise to the strings
//! earlier releases wrote ([`Target`], [`Step`], [`StepStatus`],
//! [`PortStatus`], [`Family`], [`Dtype`]). Every writer and reader of
//! `port.json` uses these types; a file written by an earlier release
//! still loads. [`document`] reads the other versioned documents (parity
//! and quality reports, the package manifest) with their own types;
//! [`vision`] says which image model types a port proves, [`vlm`] which
//! vision-language types.
//!
//! ```
//! use mlxport_contract::{Step, Target};
//! assert_eq!(Step::MapDraft.as_str(), "map-draft");
//! assert_eq!("mlx-lm".parse::<Target>().unwrap(), Target::MlxLm);
//! assert_eq!(serde_json::to_string(&Target::Scaffold).unwrap(), "\"scaffold\"");
//! ```

pub mod document;
mod enums;
pub mod port;
pub mod vision;
pub mod vlm;

pub use document::DocumentError;
pub use enums::{Dtype, Family, PortStatus, Step, StepStatus, Target, UnknownValue};
pub use port::{Artifact, PinOrigin, PortRecord, Provenance, Request, StepRecord};
