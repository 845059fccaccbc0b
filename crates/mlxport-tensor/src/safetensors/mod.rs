//! safetensors: validating zero-copy reader, sharded checkpoints, deterministic writer.
//!
//! (Being written.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::source::{Format, TensorInfo, TensorSource};

pub struct SafetensorsFile {
    path: PathBuf,
    infos: Vec<TensorInfo>,
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "not implemented yet"))
    }
}

impl TensorSource for SafetensorsFile {
    fn format(&self) -> Format {
        Format::Safetensors
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        Err(Error::not_found(&self.path, name))
    }
}

pub struct ShardedSafetensors {
    path: PathBuf,
    infos: Vec<TensorInfo>,
}

impl ShardedSafetensors {
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "not implemented yet"))
    }
}

impl TensorSource for ShardedSafetensors {
    fn format(&self) -> Format {
        Format::Safetensors
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        Err(Error::not_found(&self.path, name))
    }
}
