//! Keeping the evidence behind the knowledge base sound and current.
//!
//! - [`sources`]: the rules of the pinned source registry
//!   (`mlxport sources validate`), checked offline.
//! - [`fetch`]: the opt-in URL check (`--check-urls`), one hop at a time,
//!   every redirect re-validated by the same rules.
//! - [`research`]: review-only ranking of saved update feeds (releases of
//!   the MLX projects, paper listings) against the knowledge base
//!   (`mlxport research`). Nothing in this crate writes to the knowledge
//!   base.
//!
//! ```
//! use mlxport_evidence::sources::{check_url, UrlPolicy};
//! assert!(check_url("https://arxiv.org/abs/2106.09685v2", UrlPolicy::default()).is_ok());
//! assert!(check_url("http://arxiv.org/abs/2106.09685v2", UrlPolicy::default()).is_err());
//! assert!(check_url("https://127.0.0.1/feed.json", UrlPolicy::default()).is_err());
//! ```

pub mod error;
pub mod fetch;
pub mod research;
pub mod sources;

pub use error::{Error, Result};
