//! The zip container of a PyTorch checkpoint.
//!
//! The zip crate parses the central directory; this module memory-maps the
//! file so that stored (uncompressed) members — which is how `torch.save`
//! writes them — can be borrowed without a copy. Every member's CRC-32 is
//! checked before its bytes are handed out (once per member for borrowed
//! members), member extents are checked against the file, and an archive
//! with two members of the same name is refused, since readers could
//! disagree about which one counts.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use memmap2::Mmap;
use zip::{CompressionMethod, ZipArchive};

use crate::error::{Error, Result};

const FORMAT: &str = "PyTorch zip";

/// Largest expansion ratio accepted for a compressed member (deflate
/// cannot exceed about 1032:1).
const MAX_DEFLATE_RATIO: u64 = 1100;

/// The memory map, shareable with the zip reader.
#[derive(Clone)]
struct Shared(Arc<Mmap>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One member of the archive.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    index: usize,
    data_start: u64,
    /// Uncompressed size.
    pub size: u64,
    compressed_size: u64,
    stored: bool,
    crc32: u32,
}

/// An open zip archive.
pub struct Archive {
    path: PathBuf,
    map: Arc<Mmap>,
    zip: Mutex<ZipArchive<Cursor<Shared>>>,
    members: Vec<Member>,
    verified: Vec<OnceLock<std::result::Result<(), String>>>,
}

/// Whether the file starts with a zip signature.
pub fn has_zip_signature(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

impl Archive {
    /// Open and index a zip archive.
    pub fn open(path: &Path) -> Result<Archive> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        // SAFETY: the map is read-only; a file truncated by another process
        // while mapped is outside what this reader can defend against.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))?;
        let map = Arc::new(map);
        Self::from_map(path, map)
    }

    fn from_map(path: &Path, map: Arc<Mmap>) -> Result<Archive> {
        let mut zip =
            ZipArchive::new(Cursor::new(Shared(map.clone()))).map_err(|e| Error::invalid(path, FORMAT, format!("not a readable zip archive: {e}")))?;
        let file_len = map.len() as u64;
        let mut members = Vec::with_capacity(zip.len());
        for index in 0..zip.len() {
            let f = zip.by_index_raw(index).map_err(|e| Error::invalid(path, FORMAT, format!("zip member #{index} is unreadable: {e}")))?;
            let name = f.name().to_owned();
            if f.encrypted() {
                return Err(Error::unsupported(path, format!("zip member '{name}' is encrypted")));
            }
            let stored = match f.compression() {
                CompressionMethod::Stored => true,
                CompressionMethod::Deflated => false,
                other => return Err(Error::unsupported(path, format!("zip member '{name}' uses compression {other:?}"))),
            };
            let m = Member { name, index, data_start: f.data_start(), size: f.size(), compressed_size: f.compressed_size(), stored, crc32: f.crc32() };
            let end = m.data_start.checked_add(m.compressed_size);
            if end.is_none_or(|e| e > file_len) {
                return Err(Error::invalid(path, FORMAT, format!("zip member '{}' extends past the end of the file (truncated?)", m.name)));
            }
            if m.stored && m.size != m.compressed_size {
                return Err(Error::invalid(path, FORMAT, format!("stored zip member '{}' has two different sizes", m.name)));
            }
            if !m.stored && m.size > m.compressed_size.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                return Err(Error::refused(path, format!("zip member '{}' claims to expand {} bytes to {} (zip bomb)", m.name, m.compressed_size, m.size)));
            }
            members.push(m);
        }
        let records = count_central_records(&map, zip.central_directory_start());
        if records > members.len() {
            return Err(Error::refused(
                path,
                format!("zip central directory holds {records} records but only {} distinct names: duplicate member names", members.len()),
            ));
        }
        let verified = (0..members.len()).map(|_| OnceLock::new()).collect();
        Ok(Archive { path: path.to_path_buf(), map, zip: Mutex::new(zip), members, verified })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member with this exact name.
    pub fn find(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Read a small member whole (decompressing and checking its CRC), at
    /// most `max` bytes.
    pub fn read_small(&self, m: &Member, max: u64) -> Result<Vec<u8>> {
        if m.size > max {
            return Err(Error::refused(&self.path, format!("zip member '{}' is {} bytes, more than the {max}-byte limit", m.name, m.size)));
        }
        Ok(self.bytes(m)?.into_owned())
    }

    /// A member's bytes, CRC-checked: borrowed from the map when stored.
    pub fn bytes(&self, m: &Member) -> Result<Cow<'_, [u8]>> {
        if m.stored {
            let start = usize::try_from(m.data_start).map_err(|_| self.past_end(m))?;
            let len = usize::try_from(m.size).map_err(|_| self.past_end(m))?;
            let data = start.checked_add(len).and_then(|end| self.map.get(start..end)).ok_or_else(|| self.past_end(m))?;
            let slot = self.verified.get(m.index).ok_or_else(|| self.past_end(m))?;
            let ok = slot.get_or_init(|| check_crc(m, data));
            ok.clone().map_err(|rule| Error::invalid(&self.path, FORMAT, rule))?;
            return Ok(Cow::Borrowed(data));
        }
        let mut out = Vec::new();
        {
            let mut zip = self.zip.lock().unwrap_or_else(|e| e.into_inner());
            let f = zip.by_index(m.index).map_err(|e| Error::invalid(&self.path, FORMAT, format!("zip member '{}': {e}", m.name)))?;
            f.take(m.size.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| Error::invalid(&self.path, FORMAT, format!("zip member '{}' does not decompress: {e}", m.name)))?;
        }
        if out.len() as u64 != m.size {
            return Err(Error::invalid(
                &self.path,
                FORMAT,
                format!("zip member '{}' decompresses to {} bytes, not the {} its header declares", m.name, out.len(), m.size),
            ));
        }
        check_crc(m, &out).map_err(|rule| Error::invalid(&self.path, FORMAT, rule))?;
        Ok(Cow::Owned(out))
    }

    fn past_end(&self, m: &Member) -> Error {
        Error::invalid(&self.path, FORMAT, format!("zip member '{}' extends past the end of the file", m.name))
    }
}

fn check_crc(m: &Member, data: &[u8]) -> std::result::Result<(), String> {
    let got = crc32fast::hash(data);
    if got != m.crc32 {
        return Err(format!(
            "zip member '{}' fails its CRC-32 check (stored {:08x}, computed {got:08x}): the file is corrupt or was tampered with",
            m.name, m.crc32
        ));
    }
    Ok(())
}

/// Count central-directory file headers from `start` on.
fn count_central_records(map: &[u8], start: u64) -> usize {
    let Ok(mut pos) = usize::try_from(start) else {
        return 0;
    };
    let mut n = 0;
    while let Some(h) = pos.checked_add(46).and_then(|end| map.get(pos..end)) {
        if &h[..4] != b"PK\x01\x02" {
            break;
        }
        let len = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]) as usize;
        n += 1;
        pos = pos.saturating_add(46 + len(28) + len(30) + len(32));
    }
    n
}
