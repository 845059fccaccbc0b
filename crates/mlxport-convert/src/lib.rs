//! Conversion for mlxport: weights move from a source checkpoint to the MLX
//! layout through an explicit, reviewable weight map, deterministically and
//! streaming; GGUF metadata becomes the config and tokenizer files the MLX
//! ecosystem reads.

pub mod gguf_config;
pub mod gguf_tokenizer;
