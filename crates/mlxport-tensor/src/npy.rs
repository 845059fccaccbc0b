//! NumPy .npy: reader and writer.
//!
//! (Being written.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::source::{Format, TensorInfo, TensorSource};

pub struct NpyFile {
    path: PathBuf,
    infos: Vec<TensorInfo>,
}

impl NpyFile {
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "not implemented yet"))
    }
}

impl TensorSource for NpyFile {
    fn format(&self) -> Format {
        Format::Npy
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
