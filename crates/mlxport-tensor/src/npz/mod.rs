//! NumPy .npz: bounded zip reader and writer.
//!
//! (Being written.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::source::{Format, TensorInfo, TensorSource};

pub struct NpzFile {
    path: PathBuf,
    infos: Vec<TensorInfo>,
}

impl NpzFile {
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "not implemented yet"))
    }
}

impl TensorSource for NpzFile {
    fn format(&self) -> Format {
        Format::Npz
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
