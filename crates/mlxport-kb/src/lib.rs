//! The knowledge base for porting models to MLX, and the two commands that
//! reason with it: port plans and optimization advice.
//!
//! The crate's one job is to turn an inspection report into grounded
//! advice. The knowledge lives in data files embedded in the binary
//! (`data/*.toml`): a runbook per architecture family (the families
//! themselves are defined once, in the intake crate's routing data), method
//! pages with the parity ladder, the failure atlas and the optimization
//! ladder, a techniques registry where every entry names its MLX API, its
//! status and pinned evidence sources, and the sources themselves.
//!
//! - [`kb`]: the parsed knowledge base; [`check`] proves it consistent.
//! - [`plan::plan`]: a port plan from an [`InspectionView`]
//!   (`mlxport.inspection/v1`); [`verify::verify`] re-checks the report
//!   against the model's files first.
//! - [`recommend::recommend`]: techniques in five buckets, ordered by the
//!   optimization ladder, with a memory-fit analysis.
//! - [`render`]: the terminal pages of `mlxport docs` and `mlxport explain`.
//!
//! ```
//! use mlxport_kb::{kb, plan, view::InspectionView};
//!
//! let report = r#"{"schema": "mlxport.inspection/v1",
//!   "model": {"name": "tiny", "kind": "directory", "fingerprint": "ab12"},
//!   "routing": {"family": "encoder", "traits": ["bidirectional_attention"], "confidence": "high"},
//!   "tensors": {"parameters": 1000},
//!   "license": {"spdx": "apache-2.0", "class": "permissive", "redistribution": "yes"}}"#;
//! let inspection = InspectionView::parse(report, "report.json").unwrap();
//! let p = plan::plan(kb(), &inspection, &plan::PlanOptions::default());
//! assert_eq!(p.family.unwrap().runbook, "runbook/encoder");
//! assert!(mlxport_kb::check::check(kb(), &mlxport_kb::check::Context::intake()).is_empty());
//! ```

pub mod budget;
pub mod check;
pub mod data;
pub mod error;
pub mod plan;
pub mod recommend;
pub mod render;
pub mod verify;
pub mod view;

use std::sync::OnceLock;

pub use data::{Kb, KbText};
pub use error::{Error, Result};
pub use view::InspectionView;

/// The embedded knowledge base, parsed once.
///
/// The embedded files are fixed at build time and checked by the test
/// suite, so a parse failure here is a build defect, reported by a panic
/// that names the file and the error.
pub fn kb() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| match Kb::parse(&KbText::default()) {
        Ok(kb) => kb,
        Err(e) => panic!("embedded {e}"),
    })
}
