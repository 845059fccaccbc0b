//! Conversion for mlxport: weights move from a source checkpoint to the MLX
//! layout through an explicit, reviewable weight map, deterministically and
//! streaming; GGUF metadata becomes the config and tokenizer files the MLX
//! ecosystem reads.
//!
//! Principal types and functions:
//! - [`WeightMap`] ([`map`]): the versioned WEIGHT_MAP format — rules with
//!   `{i}` placeholders, [`Transform`]s, ties, categorized unmapped tensors.
//! - [`draft::draft`]: a family-aware draft map for a source checkpoint
//!   (Hugging Face dense decoders, MoE, encoders, GGUF llama-family).
//! - [`plan::plan`]: a map expanded against a real source into concrete
//!   jobs, with every problem as a categorized [`plan::Issue`] (what
//!   `mlxport map validate` reports).
//! - [`convert::convert`]: streaming, parallel, byte-deterministic
//!   conversion into an mlx-lm style directory, with config, tokenizer
//!   files, a conversion manifest and a model card; atomic.
//! - [`stage::Stage`]: the seam where output encodings other than plain
//!   floats (MLX quantization, lossless GGUF blocks) plug into `convert`.
//! - [`quantize::quantize_convert`]: a conversion whose stage quantizes
//!   the way mlx-lm does (`mlxport quantize`, `mlxport convert -q`).
//!
//! ```no_run
//! use mlxport_convert::{draft, plan, WeightMap};
//! let src = mlxport_tensor::open("model_dir".as_ref())?;
//! let map: WeightMap = draft::draft(src.as_ref(), &draft::DraftOptions::default())?.map;
//! let p = plan::plan(&map, src.tensors(), None);
//! assert_eq!(p.errors(), 0);
//! # Ok::<(), mlxport_convert::Error>(())
//! ```

pub mod config;
pub mod convert;
pub mod draft;
pub mod error;
pub mod gguf_config;
mod gguf_meta;
mod gguf_names;
pub mod gguf_tokenizer;
pub mod manifest;
pub mod map;
pub mod pattern;
pub mod plan;
pub mod quantize;
pub mod report;
pub mod stage;
pub mod transform;
mod writer;

pub use error::{Error, Result};
pub use map::WeightMap;
pub use transform::{Transform, TransformError};
