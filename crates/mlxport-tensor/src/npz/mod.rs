//! NumPy `.npz`: a bounded reader and a deterministic writer.
//!
//! An `.npz` is a zip archive of `.npy` members, stored (`np.savez`) or
//! deflated (`np.savez_compressed`), with ZIP64 records when large. Member
//! `NAME.npy` holds tensor `NAME`.
//!
//! [`NpzFile`] treats the archive as hostile. Before it inflates anything it
//! checks the member count, each member's name (no absolute paths, `..`
//! components, backslashes or NULs; every member a `.npy`; no duplicates),
//! that members do not overlap, that no deflated member claims more than
//! deflate can expand to, and that all members together would not inflate
//! past a cap ([`NpzLimits`]). Listing tensors reads only each member's npy
//! header (inflating just those bytes); [`TensorSource::raw`] inflates one
//! member into a buffer of exactly its declared size and stops with an
//! error if the stream holds more or less than declared, or fails its
//! CRC-32. Stored members are borrowed from a memory map.
//! [`TensorSource::chunks`] reads a member in pieces instead, with the same
//! checks made as it goes: stored members straight from the map (pages
//! released behind the reader), deflated ones inflated one piece at a time,
//! so neither needs memory the size of the tensor.
//!
//! [`write_npz`] writes an archive numpy loads: fixed timestamps, the given
//! member order, ZIP64 only when a member needs it, atomically.

pub mod zipdir;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::DeflateDecoder;
use flate2::CrcReader;
use memmap2::Mmap;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::npy::{self, header_total_len, parse_header, NpyHeader, Problem};
use crate::source::{Encoding, Format, TensorInfo, TensorSource};
use crate::stream::{ChunkRead, MappedChunks, SliceChunks};
use zipdir::{Entry, Method};

/// Deflate cannot expand data by more than 1032:1; a member declaring more
/// is lying about its size.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// Bounds applied before anything is inflated.
#[derive(Clone, Debug)]
pub struct NpzLimits {
    /// Most members an archive may hold.
    pub max_members: u64,
    /// All members together may inflate to the larger of this many bytes
    /// and [`NpzLimits::max_expansion`] times the archive's size.
    pub inflated_allowance: u64,
    /// See [`NpzLimits::inflated_allowance`].
    pub max_expansion: u64,
}

impl Default for NpzLimits {
    fn default() -> Self {
        NpzLimits { max_members: 100_000, inflated_allowance: 1 << 30, max_expansion: 100 }
    }
}

impl NpzLimits {
    /// Most bytes the members of an archive of `file_len` bytes may inflate to.
    pub fn max_inflated(&self, file_len: u64) -> u64 {
        self.inflated_allowance.max(file_len.saturating_mul(self.max_expansion))
    }
}

/// The tensor name for an npz member name, or why the name is refused.
pub fn tensor_name(member: &str) -> std::result::Result<&str, Problem> {
    let refuse = |why: &str| Err(Problem::Refused(format!("member name '{}' {why}", member.escape_debug())));
    if member.contains('\0') {
        return refuse("contains a NUL byte");
    }
    if member.contains('\\') {
        return refuse("contains a backslash");
    }
    let bytes = member.as_bytes();
    if member.starts_with('/') || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':') {
        return refuse("is an absolute path");
    }
    if member.split('/').any(|c| c == "..") {
        return refuse("has a '..' component (path traversal)");
    }
    match member.strip_suffix(".npy") {
        Some(name) if !name.is_empty() && !name.ends_with('/') => Ok(name),
        Some(_) => Err(Problem::Invalid(format!("member name '{member}' has no tensor name before '.npy'"))),
        None => Err(Problem::Invalid(format!("member '{}' is not a .npy file; an npz holds only .npy members", member.escape_debug()))),
    }
}

/// A member with its parsed npy header.
struct Member {
    entry: Entry,
    header: NpyHeader,
}

/// An `.npz` archive read as named tensors.
pub struct NpzFile {
    path: PathBuf,
    map: Mmap,
    infos: Vec<TensorInfo>,
    members: Vec<Member>,
    index: HashMap<String, usize>,
}

impl NpzFile {
    /// Open `path` with the default [`NpzLimits`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_limits(path, &NpzLimits::default())
    }

    /// Open `path`, validate the archive and every member's npy header.
    pub fn open_with_limits(path: &Path, limits: &NpzLimits) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        if len == 0 {
            return Err(Error::invalid(path, "npz", "file is empty"));
        }
        // SAFETY: the map is read-only; like every reader of mapped files we
        // assume the file is not truncated while it is open.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))?;
        let entries = zipdir::read_directory(&map, limits.max_members).map_err(|p| p.into_error(path, "npz", ""))?;
        let names = check_names(&entries).map_err(|p| p.into_error(path, "npz", ""))?;
        check_sizes(&entries, len, limits).map_err(|p| p.into_error(path, "npz", ""))?;
        let mut members = Vec::with_capacity(entries.len());
        let mut infos = Vec::with_capacity(entries.len());
        let mut index = HashMap::with_capacity(entries.len());
        for (entry, name) in entries.into_iter().zip(names) {
            let context = format!("member '{}': ", entry.name);
            let header = read_member_header(&map, &entry).map_err(|p| p.into_error(path, "npz", &context))?;
            infos.push(TensorInfo {
                name: name.clone(),
                encoding: Encoding::Dense(header.dtype),
                shape: header.shape.clone(),
                nbytes: header.data_len,
                file: path.to_path_buf(),
            });
            index.insert(name, members.len());
            members.push(Member { entry, header });
        }
        Ok(NpzFile { path: path.to_path_buf(), map, infos, members, index })
    }

    fn member(&self, name: &str) -> Result<&Member> {
        self.index.get(name).map(|&i| &self.members[i]).ok_or_else(|| Error::not_found(&self.path, name))
    }

    /// The parsed npy header of tensor `name`.
    pub fn header(&self, name: &str) -> Result<&NpyHeader> {
        Ok(&self.member(name)?.header)
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
        let member = self.member(name)?;
        let context = format!("member '{}': ", member.entry.name);
        let data = member_data(&self.map, member).map_err(|p| p.into_error(&self.path, "npz", &context))?;
        Ok(npy::to_row_major(&member.header, data))
    }
    fn chunks(&self, name: &str) -> Result<Box<dyn ChunkRead + '_>> {
        let member = self.member(name)?;
        if npy::needs_conversion(&member.header) {
            return Ok(Box::new(SliceChunks::new(self.raw(name)?)));
        }
        Ok(Box::new(MemberChunks::new(&self.path, &self.map, member)))
    }
}

/// A member's data read in pieces, checked as it is read: the content must
/// be exactly the declared size and match its CRC-32. Errors surface at the
/// piece that reaches them; the last piece is handed out only after both
/// checks pass.
struct MemberChunks<'a> {
    path: &'a Path,
    entry: &'a Entry,
    /// Bytes of the npy header before the data.
    header_len: usize,
    data_len: u64,
    pos: u64,
    kind: MemberKind<'a>,
}

type Inflater<'a> = CrcReader<std::io::Take<DeflateDecoder<&'a [u8]>>>;

enum MemberKind<'a> {
    Stored {
        map: MappedChunks<'a>,
        crc: crc32fast::Hasher,
    },
    /// `started` is false until the header bytes have been inflated.
    Deflated {
        reader: Box<Inflater<'a>>,
        buf: Vec<u8>,
        started: bool,
    },
}

impl<'a> MemberChunks<'a> {
    fn new(path: &'a Path, map: &'a Mmap, member: &'a Member) -> Self {
        let entry = &member.entry;
        let header_len = member.header.data_offset;
        let kind = match entry.method {
            Method::Stored => {
                let start = entry.data_start as usize;
                let mut crc = crc32fast::Hasher::new();
                crc.update(&map[start..start + header_len]);
                MemberKind::Stored { map: MappedChunks::new(map, start + header_len, entry.data_end() as usize), crc }
            }
            Method::Deflated => {
                // Never more than the declared size plus one byte to detect a lie.
                let limit = entry.uncompressed_size.saturating_add(1);
                let reader = CrcReader::new(DeflateDecoder::new(compressed(map, entry)).take(limit));
                MemberKind::Deflated { reader: Box::new(reader), buf: Vec::new(), started: false }
            }
        };
        MemberChunks { path, entry, header_len, data_len: member.header.data_len, pos: 0, kind }
    }
}

/// Inflate the next `want` data bytes into `buf`; at the end of the member
/// check that nothing follows and that the CRC-32 matches.
fn inflate_piece(
    reader: &mut Inflater<'_>,
    buf: &mut Vec<u8>,
    started: &mut bool,
    entry: &Entry,
    header_len: usize,
    want: usize,
    last: bool,
) -> std::result::Result<(), Problem> {
    let short = || Problem::Invalid(format!("inflates to fewer than its declared {} bytes", entry.uncompressed_size));
    if !*started {
        let mut head = vec![0u8; header_len];
        if read_full(reader, &mut head).map_err(inflate_error)? < header_len {
            return Err(short());
        }
        *started = true;
    }
    buf.resize(want, 0);
    if read_full(reader, buf).map_err(inflate_error)? < want {
        return Err(short());
    }
    if last {
        let mut extra = [0u8; 1];
        if read_full(reader, &mut extra).map_err(inflate_error)? > 0 {
            return Err(Problem::Invalid(format!(
                "inflates to more than its declared {} bytes (the directory lies about its size); stopped",
                entry.uncompressed_size
            )));
        }
        check_crc(entry, reader.crc().sum())?;
    }
    Ok(())
}

impl ChunkRead for MemberChunks<'_> {
    fn len(&self) -> u64 {
        self.data_len
    }
    fn remaining(&self) -> u64 {
        self.data_len - self.pos
    }
    fn next_chunk(&mut self, max: usize) -> Result<&[u8]> {
        let remaining = self.data_len - self.pos;
        let want = (max as u64).min(remaining) as usize;
        let last = want as u64 == remaining;
        let (path, entry) = (self.path, self.entry);
        let fail = |p: Problem| p.into_error(path, "npz", &format!("member '{}': ", entry.name));
        if remaining == 0 && self.pos > 0 {
            return Ok(&[]);
        }
        match &mut self.kind {
            MemberKind::Stored { map, crc } => {
                let piece = map.next_chunk(want)?;
                crc_update_parallel(crc, piece);
                if last {
                    check_crc(entry, crc.clone().finalize()).map_err(fail)?;
                }
                self.pos += want as u64;
                Ok(piece)
            }
            MemberKind::Deflated { reader, buf, started } => {
                inflate_piece(reader, buf, started, entry, self.header_len, want, last).map_err(fail)?;
                self.pos += want as u64;
                Ok(&buf[..want])
            }
        }
    }
}

/// Tensor names for the members; refuses bad and duplicate names.
fn check_names(entries: &[Entry]) -> std::result::Result<Vec<String>, Problem> {
    let mut seen = HashSet::with_capacity(entries.len());
    let mut names = Vec::with_capacity(entries.len());
    for e in entries {
        let name = tensor_name(&e.name)?;
        if !seen.insert(name) {
            return Err(Problem::Invalid(format!("duplicate member name '{}'", e.name)));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// Declared sizes must be possible and, together, within the limits.
fn check_sizes(entries: &[Entry], file_len: u64, limits: &NpzLimits) -> std::result::Result<(), Problem> {
    let mut total: u64 = 0;
    for e in entries {
        match e.method {
            Method::Stored if e.compressed_size != e.uncompressed_size => {
                return Err(Problem::Invalid(format!(
                    "member '{}' is stored but declares {} bytes of data and {} bytes of content",
                    e.name, e.compressed_size, e.uncompressed_size
                )))
            }
            Method::Deflated if e.uncompressed_size > e.compressed_size.saturating_mul(DEFLATE_MAX_RATIO).saturating_add(1024) => {
                return Err(Problem::Invalid(format!(
                    "member '{}' declares {} bytes from {} compressed bytes, more than deflate can expand to (1032:1): its size is a lie",
                    e.name, e.uncompressed_size, e.compressed_size
                )))
            }
            _ => {}
        }
        total = total.saturating_add(e.uncompressed_size);
    }
    let cap = limits.max_inflated(file_len);
    if total > cap {
        return Err(Problem::Refused(format!(
            "members would inflate to {total} bytes, more than the limit of {cap} bytes ({}x the archive size, at least {} bytes); refusing a possible zip bomb",
            limits.max_expansion, limits.inflated_allowance
        )));
    }
    Ok(())
}

/// The compressed bytes of a member (located and bounded by `zipdir`).
fn compressed<'a>(map: &'a [u8], entry: &Entry) -> &'a [u8] {
    &map[entry.data_start as usize..entry.data_end() as usize]
}

/// Read into `buf` until it is full or the reader ends; returns the count.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn inflate_error(e: std::io::Error) -> Problem {
    Problem::Invalid(format!("corrupt deflate data: {e}"))
}

/// Parse a member's npy header, inflating only the header's bytes, and
/// check that the member's size is exactly header plus data.
fn read_member_header(map: &[u8], entry: &Entry) -> std::result::Result<NpyHeader, Problem> {
    let size = entry.uncompressed_size;
    let header = match entry.method {
        Method::Stored => parse_header(compressed(map, entry))?,
        Method::Deflated => {
            let mut r = DeflateDecoder::new(compressed(map, entry)).take(size);
            let mut prefix = [0u8; 12];
            let n = read_full(&mut r, &mut prefix).map_err(inflate_error)?;
            let total = header_total_len(&prefix[..n])?;
            let mut buf = vec![0u8; total];
            buf[..n.min(total)].copy_from_slice(&prefix[..n.min(total)]);
            let got = if total > n { n + read_full(&mut r, &mut buf[n..]).map_err(inflate_error)? } else { total };
            if got < total {
                return Err(Problem::Invalid(format!("header length field says the header ends at byte {total}, beyond the end of the member ({got} bytes)")));
            }
            parse_header(&buf)?
        }
    };
    npy::check_data_len(&header, size.saturating_sub(header.data_offset as u64))?;
    Ok(header)
}

/// A member's data bytes (after its npy header), as stored: borrowed for
/// stored members, inflated for deflated ones. Checks the CRC-32 and that
/// the content is exactly the declared size.
fn member_data<'a>(map: &'a [u8], member: &Member) -> std::result::Result<Cow<'a, [u8]>, Problem> {
    let entry = &member.entry;
    let header_len = member.header.data_offset;
    match entry.method {
        Method::Stored => {
            let bytes = compressed(map, entry);
            let mut crc = flate2::Crc::new();
            crc.update(bytes);
            check_crc(entry, crc.sum())?;
            Ok(Cow::Borrowed(&bytes[header_len..]))
        }
        Method::Deflated => {
            let data_len = usize::try_from(member.header.data_len).map_err(|_| Problem::Unsupported("member too large for this machine".into()))?;
            // Never more than the declared size plus one byte to detect a lie.
            let limit = entry.uncompressed_size.saturating_add(1);
            let mut r = CrcReader::new(DeflateDecoder::new(compressed(map, entry)).take(limit));
            let mut head = vec![0u8; header_len];
            let mut data = vec![0u8; data_len];
            let got = read_full(&mut r, &mut head).map_err(inflate_error)? + read_full(&mut r, &mut data).map_err(inflate_error)?;
            let mut extra = [0u8; 1];
            if read_full(&mut r, &mut extra).map_err(inflate_error)? > 0 {
                return Err(Problem::Invalid(format!(
                    "inflates to more than its declared {} bytes (the directory lies about its size); stopped",
                    entry.uncompressed_size
                )));
            }
            if (got as u64) < entry.uncompressed_size {
                return Err(Problem::Invalid(format!("inflates to {got} bytes, fewer than its declared {} bytes", entry.uncompressed_size)));
            }
            check_crc(entry, r.crc().sum())?;
            Ok(Cow::Owned(data))
        }
    }
}

/// Add `bytes` to a running CRC-32, in parallel for large pieces (partial
/// CRCs of consecutive parts are combined in order).
fn crc_update_parallel(crc: &mut crc32fast::Hasher, bytes: &[u8]) {
    use rayon::prelude::*;
    const PART: usize = 1 << 20;
    if bytes.len() < 4 * PART {
        crc.update(bytes);
        return;
    }
    let parts: Vec<crc32fast::Hasher> = bytes
        .par_chunks(PART)
        .map(|c| {
            let mut h = crc32fast::Hasher::new();
            h.update(c);
            h
        })
        .collect();
    for p in &parts {
        crc.combine(p);
    }
}

fn check_crc(entry: &Entry, actual: u32) -> std::result::Result<(), Problem> {
    if actual != entry.crc32 {
        return Err(Problem::Invalid(format!("CRC-32 mismatch: content has {actual:08x}, the directory says {:08x}", entry.crc32)));
    }
    Ok(())
}

/// One array to write into an npz: elements little-endian, row-major.
#[derive(Clone, Copy, Debug)]
pub struct NpzArray<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: &'a [u64],
    pub data: &'a [u8],
}

/// Members this large or larger get ZIP64 records (with margin for
/// deflate's worst-case growth).
const ZIP64_THRESHOLD: u64 = 0xFFF0_0000;

/// Write `arrays` as an npz archive at `path`, in the given order, stored
/// or deflated (level 6, as numpy's `savez_compressed`). Timestamps are
/// fixed (1980-01-01) and permissions 0644, so the same arrays give the
/// same bytes. The file is written next to `path` and renamed into place.
pub fn write_npz(path: &Path, arrays: &[NpzArray<'_>], compressed: bool) -> Result<()> {
    let mut headers = Vec::with_capacity(arrays.len());
    let mut seen = HashSet::new();
    for a in arrays {
        let member = format!("{}.npy", a.name);
        tensor_name(&member).map_err(|p| p.into_error(path, "npz", "cannot write: "))?;
        if !seen.insert(a.name) {
            return Err(Error::invalid(path, "npz", format!("cannot write: tensor '{}' given twice", a.name)));
        }
        let header =
            npy::header_for(a.dtype, a.shape, a.data.len(), false).map_err(|e| Error::unsupported(path, format!("cannot write tensor '{}': {e}", a.name)))?;
        headers.push(header);
    }
    npy::write_atomically(path, |file| write_zip(file, arrays, &headers, compressed))
}

fn write_zip(file: &mut File, arrays: &[NpzArray<'_>], headers: &[Vec<u8>], compressed: bool) -> std::io::Result<()> {
    use zip::write::SimpleFileOptions;
    let (method, level) = if compressed { (zip::CompressionMethod::Deflated, Some(6)) } else { (zip::CompressionMethod::Stored, None) };
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    for (a, header) in arrays.iter().zip(headers) {
        let size = (header.len() + a.data.len()) as u64;
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(level)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644)
            .large_file(size >= ZIP64_THRESHOLD);
        zip.start_file(format!("{}.npy", a.name), options).map_err(std::io::Error::other)?;
        zip.write_all(header)?;
        zip.write_all(a.data)?;
    }
    let mut out = zip.finish().map_err(std::io::Error::other)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_name_rules() {
        assert_eq!(tensor_name("a.npy").unwrap(), "a");
        assert_eq!(tensor_name("layers/0/w.npy").unwrap(), "layers/0/w");
        assert_eq!(tensor_name("a..b.npy").unwrap(), "a..b");
        for (bad, why) in [
            ("../evil.npy", ".."),
            ("a/../../b.npy", ".."),
            ("/etc/x.npy", "absolute"),
            ("C:x.npy", "absolute"),
            ("a\\b.npy", "backslash"),
            ("a\0.npy", "NUL"),
            ("a.txt", "not a .npy"),
            (".npy", "no tensor name"),
            ("dir/", "not a .npy"),
        ] {
            let e = tensor_name(bad).unwrap_err();
            let msg = match e {
                Problem::Invalid(m) | Problem::Refused(m) | Problem::Unsupported(m) => m,
            };
            assert!(msg.contains(why), "{bad:?}: {msg}");
        }
    }

    #[test]
    fn write_read_round_trip_is_deterministic() {
        let dir = std::env::temp_dir().join(format!("npz-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..48).collect();
        let arrays =
            [NpzArray { name: "w", dtype: DType::F32, shape: &[3, 4], data: &data }, NpzArray { name: "s", dtype: DType::U8, shape: &[], data: &data[..1] }];
        for compressed in [false, true] {
            let a = dir.join("a.npz");
            let b = dir.join("b.npz");
            write_npz(&a, &arrays, compressed).unwrap();
            write_npz(&b, &arrays, compressed).unwrap();
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            let f = NpzFile::open(&a).unwrap();
            let names: Vec<_> = f.tensors().iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, ["w", "s"]);
            assert_eq!(f.raw("w").unwrap().as_ref(), &data[..]);
            assert_eq!(f.raw("s").unwrap().as_ref(), &data[..1]);
            assert!(matches!(f.raw("w").unwrap(), Cow::Borrowed(_)) != compressed);
        }
        let dup = [arrays[0], arrays[0]];
        assert!(write_npz(&dir.join("c.npz"), &dup, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
