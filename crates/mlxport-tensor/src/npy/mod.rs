//! NumPy `.npy`: a validating reader and a writer that matches numpy.
//!
//! A `.npy` file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a
//! little-endian header length, a Python dict literal naming the element
//! type (`descr`), the layout (`fortran_order`) and the `shape`, then the
//! elements. [`NpyFile`] reads one such file as a [`TensorSource`] holding
//! one tensor named after the file stem. Its bytes always come out
//! little-endian and row-major: big-endian data is byte-swapped and
//! Fortran-order data transposed on read; otherwise they are borrowed from
//! a memory map. Object arrays (pickles) are refused, structured and text
//! dtypes are unsupported, and the data must be exactly as long as the
//! shape and dtype say.
//!
//! [`write_npy`] and [`write_npy_to`] write the header byte for byte as
//! numpy does (version 1.0 unless the header needs 2.0, padded to 64
//! bytes), so the output is deterministic.

pub mod header;

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use header::{descr_of, encode_header, header_total_len, parse_header, NpyHeader, Problem};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::source::{Encoding, Format, TensorInfo, TensorSource};

impl Problem {
    /// The crate error for this problem in `path`; `context` (such as
    /// `"member 'a.npy': "`) is put before the rule.
    pub fn into_error(self, path: &Path, format: &'static str, context: &str) -> Error {
        match self {
            Problem::Invalid(rule) => Error::invalid(path, format, format!("{context}{rule}")),
            Problem::Unsupported(what) => Error::unsupported(path, format!("{context}{what}")),
            Problem::Refused(why) => Error::refused(path, format!("{context}{why}")),
        }
    }
}

/// Check that `available` data bytes are exactly what `header` calls for.
pub fn check_data_len(header: &NpyHeader, available: u64) -> std::result::Result<(), Problem> {
    let need = header.data_len;
    let what = format!("shape {:?} of {}", header.shape, header.dtype);
    if available < need {
        Err(Problem::Invalid(format!("data is {available} bytes but {what} needs {need} bytes (truncated?)")))
    } else if available > need {
        Err(Problem::Invalid(format!("data is {available} bytes but {what} needs {need} bytes: {} trailing bytes", available - need)))
    } else {
        Ok(())
    }
}

/// Whether Fortran order differs from C order for this shape: only when
/// more than one dimension is longer than 1 and there are elements.
fn layouts_differ(shape: &[u64]) -> bool {
    !shape.contains(&0) && shape.iter().filter(|&&d| d > 1).count() > 1
}

/// Whether data laid out as `header` says must be rewritten to be
/// little-endian and row-major.
pub fn needs_conversion(header: &NpyHeader) -> bool {
    header.big_endian || (header.fortran_order && layouts_differ(&header.shape))
}

/// The data of an array with this `header` as little-endian, row-major
/// bytes. `data` must be exactly `header.data_len` long (see
/// [`check_data_len`]); it is returned as is when no rewrite is needed.
pub fn to_row_major<'a>(header: &NpyHeader, data: Cow<'a, [u8]>) -> Cow<'a, [u8]> {
    if !needs_conversion(header) {
        return data;
    }
    let size = header.dtype.size().unwrap_or(1);
    let mut bytes = if header.fortran_order && layouts_differ(&header.shape) {
        let reversed: Vec<usize> = header.shape.iter().rev().map(|&d| d as usize).collect();
        reverse_axes(&data, &reversed, size)
    } else {
        data.into_owned()
    };
    if header.big_endian {
        swap_byte_order(&mut bytes, header.dtype);
    }
    Cow::Owned(bytes)
}

/// Reverse the byte order of each element (of each half, for complex).
fn swap_byte_order(bytes: &mut [u8], dtype: DType) {
    let size = dtype.size().unwrap_or(1);
    let unit = if matches!(dtype, DType::C64 | DType::C128) { size / 2 } else { size };
    if unit > 1 {
        bytes.chunks_exact_mut(unit).for_each(|c| c.reverse());
    }
}

/// Transpose a row-major array of shape `dims` (elements of `size` bytes)
/// by reversing all its axes; the result is row-major with shape
/// `dims` reversed. A column-major array of shape S is, byte for byte, the
/// row-major array of shape S reversed, so this converts between the two
/// orders in both directions. `data` must hold exactly the elements.
fn reverse_axes(data: &[u8], dims: &[usize], size: usize) -> Vec<u8> {
    let n = dims.len();
    let numel = data.len() / size.max(1);
    // Input strides in elements, row-major.
    let mut strides = vec![1usize; n];
    for k in (0..n.saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * dims[k + 1];
    }
    // Output axis k is input axis n-1-k.
    let out_dims: Vec<usize> = dims.iter().rev().copied().collect();
    let out_steps: Vec<usize> = strides.iter().rev().copied().collect();
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0usize; n];
    let mut src = 0usize;
    for _ in 0..numel {
        out.extend_from_slice(&data[src * size..(src + 1) * size]);
        for k in (0..n).rev() {
            index[k] += 1;
            src += out_steps[k];
            if index[k] < out_dims[k] {
                break;
            }
            src -= out_steps[k] * out_dims[k];
            index[k] = 0;
        }
    }
    out
}

/// One `.npy` file read as a one-tensor source.
pub struct NpyFile {
    path: PathBuf,
    infos: Vec<TensorInfo>,
    header: NpyHeader,
    map: Mmap,
}

impl NpyFile {
    /// Open and validate `path`: header, dtype, and a data length that is
    /// exactly what the shape needs. The tensor is named after the file
    /// stem (`weights.npy` holds `weights`).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        if len < 10 {
            return Err(Error::invalid(path, "npy", format!("file is {len} bytes long, too short for an npy header")));
        }
        // SAFETY: the map is read-only; like every reader of mapped files we
        // assume the file is not truncated while it is open.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))?;
        let header = parse_header(&map).map_err(|p| p.into_error(path, "npy", ""))?;
        let available = (map.len() - header.data_offset) as u64;
        check_data_len(&header, available).map_err(|p| p.into_error(path, "npy", ""))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let info = TensorInfo { name, encoding: Encoding::Dense(header.dtype), shape: header.shape.clone(), nbytes: header.data_len, file: path.to_path_buf() };
        Ok(NpyFile { path: path.to_path_buf(), infos: vec![info], header, map })
    }

    /// The parsed header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
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
        if self.infos[0].name != name {
            return Err(Error::not_found(&self.path, name));
        }
        let data = &self.map[self.header.data_offset..];
        Ok(to_row_major(&self.header, Cow::Borrowed(data)))
    }
    fn chunks(&self, name: &str) -> Result<Box<dyn crate::stream::ChunkRead + '_>> {
        if needs_conversion(&self.header) {
            return Ok(Box::new(crate::stream::SliceChunks::new(self.raw(name)?)));
        }
        if self.infos[0].name != name {
            return Err(Error::not_found(&self.path, name));
        }
        Ok(Box::new(crate::stream::MappedChunks::new(&self.map, self.header.data_offset, self.map.len())))
    }
}

/// Check an array handed to a writer and return its .npy header (the
/// broken rule, for the writer to wrap with the file it writes).
pub(crate) fn header_for(dtype: DType, shape: &[u64], data_len: usize, fortran_order: bool) -> std::result::Result<Vec<u8>, String> {
    if shape.len() > header::MAX_DIMS {
        return Err(format!("{} dimensions; numpy allows at most {}", shape.len(), header::MAX_DIMS));
    }
    let need = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| dtype.byte_len(n))
        .ok_or_else(|| format!("shape {shape:?} overflows 64 bits"))?;
    if need != data_len as u64 {
        return Err(format!("shape {shape:?} of {dtype} needs {need} bytes but {data_len} were given"));
    }
    // Like numpy, say Fortran order only when it differs from C order.
    encode_header(dtype, shape, fortran_order && layouts_differ(shape)).ok_or_else(|| format!("numpy has no dtype for {dtype}; convert the tensor first"))
}

/// Write an array as .npy to `w`. `data` holds the elements little-endian
/// and row-major; with `fortran_order` they are stored column-major (and
/// the header says so, unless both orders are the same for this shape, as
/// numpy does). Fails with `InvalidInput` when the data does not
/// match the shape or numpy has no such dtype.
pub fn write_npy_to<W: Write>(mut w: W, dtype: DType, shape: &[u64], data: &[u8], fortran_order: bool) -> std::io::Result<()> {
    let header = header_for(dtype, shape, data.len(), fortran_order).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    w.write_all(&header)?;
    if fortran_order && layouts_differ(shape) {
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        w.write_all(&reverse_axes(data, &dims, dtype.size().unwrap_or(1)))?;
    } else {
        w.write_all(data)?;
    }
    w.flush()
}

/// Write an array as a .npy file, atomically (a temporary file in the same
/// directory, renamed over `path` when complete). See [`write_npy_to`].
pub fn write_npy(path: &Path, dtype: DType, shape: &[u64], data: &[u8], fortran_order: bool) -> Result<()> {
    header_for(dtype, shape, data.len(), fortran_order).map_err(|e| Error::unsupported(path, format!("cannot write as npy: {e}")))?;
    write_atomically(path, |file| write_npy_to(std::io::BufWriter::new(file), dtype, shape, data, fortran_order))
}

/// Create `path` atomically (see [`mlxport_util::fs::write_atomically`]):
/// `fill` writes a temporary file next to it, renamed into place once
/// complete and synced. On failure the temporary file is removed, `path`
/// is untouched and the error names `path`.
pub fn write_atomically(path: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
    mlxport_util::fs::write_atomically(path, fill).map_err(|e| Error::io(path, "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_axes_transposes() {
        // 2x3 row-major [[0,1,2],[3,4,5]] -> 3x2 [[0,3],[1,4],[2,5]]
        let data: Vec<u8> = (0..6).collect();
        assert_eq!(reverse_axes(&data, &[2, 3], 1), vec![0, 3, 1, 4, 2, 5]);
        // 2x2x2 with 2-byte elements: reversing twice is the identity.
        let data: Vec<u8> = (0..16).collect();
        let once = reverse_axes(&data, &[2, 2, 2], 2);
        assert_eq!(&once[..4], &[0, 1, 8, 9]);
        assert_eq!(reverse_axes(&once, &[2, 2, 2], 2), data);
        assert_eq!(reverse_axes(&[], &[], 4), Vec::<u8>::new());
    }

    #[test]
    fn big_endian_complex_swaps_each_half() {
        let mut b = vec![1, 2, 3, 4, 5, 6, 7, 8];
        swap_byte_order(&mut b, DType::C64);
        assert_eq!(b, vec![4, 3, 2, 1, 8, 7, 6, 5]);
    }

    #[test]
    fn write_then_read_fortran() {
        let dir = std::env::temp_dir().join(format!("npy-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.npy");
        let data: Vec<u8> = (0..24).collect();
        write_npy(&path, DType::U16, &[3, 4], &data, true).unwrap();
        let f = NpyFile::open(&path).unwrap();
        assert!(f.header().fortran_order);
        assert_eq!(f.raw("t").unwrap().as_ref(), &data[..]);
        assert!(write_npy(&path, DType::BF16, &[1], &[0, 0], false).is_err());
        assert!(write_npy(&path, DType::U16, &[3], &[0, 0], false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
