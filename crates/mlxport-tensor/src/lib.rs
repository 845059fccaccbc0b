//! Tensor I/O for mlxport: element types and bounded, validating readers and
//! writers for every checkpoint format a port meets.
//!
//! The crate's one job is to turn files that strangers made into named
//! tensors — exactly, and without trusting the file. Every reader validates
//! the whole structure before it hands out a byte, bounds what it allocates
//! by what the file really holds, and reports a broken rule as an
//! [`Error`] naming the file and the rule. Nothing in a file is ever
//! executed: PyTorch pickles go through a restricted machine with an
//! allowlist.
//!
//! Principal types:
//! - [`DType`]: element types and exact conversions ([`dtype`]).
//! - [`TensorSource`]: named tensors from any format; [`open`] picks the
//!   reader from the file's first bytes, or reads a model directory.
//! - [`stream::ChunkRead`]: a tensor's bytes in bounded pieces
//!   ([`TensorSource::chunks`]).
//! - Format modules: [`safetensors`], [`npy`], [`npz`], [`gguf`], [`pytorch`].
//!
//! ```no_run
//! use mlxport_tensor::open;
//! let src = open("model_dir".as_ref())?;
//! for t in src.tensors() {
//!     println!("{} {} {:?}", t.name, t.encoding, t.shape);
//! }
//! let values: Vec<f32> = src.read_f32("model.embed_tokens.weight")?;
//! # Ok::<(), mlxport_tensor::Error>(())
//! ```

pub mod dtype;
pub mod error;
pub mod gguf;
pub mod npy;
pub mod npz;
pub mod pytorch;
pub mod safetensors;
pub mod source;
pub mod stats;
pub mod stream;

pub use dtype::DType;
pub use error::{Error, Result};
pub use source::{open, open_file, Encoding, Format, TensorInfo, TensorSource};
