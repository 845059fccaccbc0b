//! The GGUF config and tokenizer translation, as `convert` calls it.
//!
//! `config.json` and the tokenizer files of a GGUF source come from
//! [`crate::gguf_config::config_from_gguf`] and
//! [`crate::gguf_tokenizer::tokenizer_files`]; their errors are given the
//! file's name here.

use mlxport_tensor::gguf::GgufFile;
use serde_json::Value;

use crate::{Error, Result};

/// `config.json` for a GGUF file.
pub fn config(gguf: &GgufFile) -> Result<Value> {
    crate::gguf_config::config_from_gguf(gguf).map_err(|e| Error::Convert(format!("{}: config.json from GGUF metadata: {e}", gguf_path(gguf))))
}

/// Tokenizer files (name, bytes) rebuilt from a GGUF file's vocabulary.
pub fn tokenizer_files(gguf: &GgufFile) -> Result<Vec<(String, Vec<u8>)>> {
    crate::gguf_tokenizer::tokenizer_files(gguf).map_err(|e| Error::Convert(format!("{}: tokenizer from GGUF metadata: {e}", gguf_path(gguf))))
}

fn gguf_path(gguf: &GgufFile) -> String {
    use mlxport_tensor::TensorSource;
    gguf.path().display().to_string()
}
