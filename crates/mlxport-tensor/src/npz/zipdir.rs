//! A strict reader of a zip archive's directory, for npz files held in
//! memory (a memory map).
//!
//! It finds the end-of-central-directory record (and the ZIP64 one when
//! present), refuses archives that declare more members than a cap before
//! reading any, parses every central-directory entry (with ZIP64 sizes and
//! offsets), checks each local header against its entry, and refuses
//! members whose data overlap or run into the directory. Only stored and
//! deflated, unencrypted, single-disk archives are accepted. Nothing is
//! decompressed here.

use crate::npy::Problem;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_SIG: u32 = 0x0403_4b50;
const LOCAL_LEN: usize = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// How a member's data are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// One member of the archive, located and checked.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub method: Method,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Offset of the local header.
    pub header_offset: u64,
    /// Offset of the first byte of (compressed) data.
    pub data_start: u64,
}

impl Entry {
    /// Offset just past the compressed data.
    pub fn data_end(&self) -> u64 {
        // Checked when the entry was built.
        self.data_start + self.compressed_size
    }
}

fn invalid(rule: impl Into<String>) -> Problem {
    Problem::Invalid(rule.into())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Offset in `bytes` as a usize, if it lies within them (or at their end).
fn offset(bytes: &[u8], at: u64) -> Option<usize> {
    usize::try_from(at).ok().filter(|&a| a <= bytes.len())
}

/// Where the central directory is and how many entries it holds.
struct Directory {
    start: u64,
    size: u64,
    entries: u64,
}

/// Read the whole directory of the archive in `bytes`, refusing more than
/// `max_members` members before parsing any.
pub fn read_directory(bytes: &[u8], max_members: u64) -> Result<Vec<Entry>, Problem> {
    let dir = find_directory(bytes)?;
    if dir.entries > max_members {
        return Err(Problem::Refused(format!("archive declares {} members, more than the limit of {max_members} members", dir.entries)));
    }
    if dir.entries.checked_mul(CENTRAL_LEN as u64).is_none_or(|min| min > dir.size) {
        return Err(invalid(format!("central directory of {} bytes cannot hold the {} members it declares", dir.size, dir.entries)));
    }
    let start = offset(bytes, dir.start).ok_or_else(|| invalid("central directory starts beyond the file"))?;
    let end = dir.start.checked_add(dir.size).and_then(|e| offset(bytes, e)).ok_or_else(|| invalid("central directory runs beyond the file"))?;
    let cd = &bytes[start..end];
    let mut entries = Vec::with_capacity(dir.entries as usize);
    let mut pos = 0usize;
    for i in 0..dir.entries {
        let (entry, len) = central_entry(&cd[pos..], i)?;
        pos += len;
        let entry = locate_data(bytes, entry, dir.start)?;
        entries.push(entry);
    }
    if pos != cd.len() {
        return Err(invalid(format!("central directory has {} bytes after its {} declared entries", cd.len() - pos, dir.entries)));
    }
    check_no_overlap(&entries)?;
    Ok(entries)
}

/// Find the end-of-central-directory record (the last one, whose comment
/// runs exactly to the end of the file) and, if present, the ZIP64 record.
fn find_directory(bytes: &[u8]) -> Result<Directory, Problem> {
    if bytes.len() < EOCD_LEN {
        return Err(invalid(format!("file is {} bytes long, too short to be a zip archive (truncated?)", bytes.len())));
    }
    let last = bytes.len() - EOCD_LEN;
    let first = last.saturating_sub(u16::MAX as usize);
    let eocd = (first..=last)
        .rev()
        .find(|&p| u32_at(bytes, p) == Some(EOCD_SIG) && u16_at(bytes, p + 20).map(|c| p + EOCD_LEN + c as usize) == Some(bytes.len()))
        .ok_or_else(|| invalid("no end-of-central-directory record: the file is truncated or not a zip archive"))?;
    let rec = &bytes[eocd..];
    let field16 = |at| u16_at(rec, at).unwrap_or(0);
    let field32 = |at| u32_at(rec, at).unwrap_or(0);
    if field16(4) != 0 || field16(6) != 0 {
        return Err(Problem::Unsupported("multi-disk (split) zip archives".into()));
    }
    let has_locator = eocd >= ZIP64_LOCATOR_LEN && u32_at(bytes, eocd - ZIP64_LOCATOR_LEN) == Some(ZIP64_LOCATOR_SIG);
    let (dir, dir_end) = if has_locator {
        zip64_directory(bytes, eocd - ZIP64_LOCATOR_LEN)?
    } else {
        if field16(8) != field16(10) {
            return Err(Problem::Unsupported("multi-disk (split) zip archives".into()));
        }
        let dir = Directory { start: field32(16) as u64, size: field32(12) as u64, entries: field16(10) as u64 };
        (dir, eocd as u64)
    };
    if dir.start.checked_add(dir.size) != Some(dir_end) {
        return Err(invalid(format!(
            "central directory (offset {}, {} bytes) does not end where the end record begins (offset {dir_end}); the archive is damaged or has data prepended",
            dir.start, dir.size
        )));
    }
    Ok(dir)
}

/// Read the ZIP64 end record through its locator at `locator`; returns the
/// directory and the offset where it must end (the ZIP64 record's start).
fn zip64_directory(bytes: &[u8], locator: usize) -> Result<(Directory, u64), Problem> {
    let loc = &bytes[locator..];
    let disk = u32_at(loc, 4).unwrap_or(1);
    let record_at = u64_at(loc, 8).unwrap_or(u64::MAX);
    let disks = u32_at(loc, 16).unwrap_or(0);
    if disk != 0 || disks > 1 {
        return Err(Problem::Unsupported("multi-disk (split) zip archives".into()));
    }
    let at = offset(bytes, record_at)
        .filter(|&a| a.checked_add(ZIP64_EOCD_LEN).is_some_and(|end| end <= locator))
        .ok_or_else(|| invalid(format!("ZIP64 end record offset {record_at} is outside the file")))?;
    let rec = &bytes[at..locator];
    if u32_at(rec, 0) != Some(ZIP64_EOCD_SIG) {
        return Err(invalid(format!("no ZIP64 end record at offset {record_at}, where the locator points")));
    }
    let record_size = u64_at(rec, 4).unwrap_or(0);
    if record_size.checked_add(12) != Some(rec.len() as u64) {
        return Err(invalid("ZIP64 end record size does not reach the locator"));
    }
    let field32 = |o| u32_at(rec, o).unwrap_or(1);
    let field64 = |o| u64_at(rec, o).unwrap_or(0);
    if field32(16) != 0 || field32(20) != 0 || field64(24) != field64(32) {
        return Err(Problem::Unsupported("multi-disk (split) zip archives".into()));
    }
    let dir = Directory { entries: field64(32), size: field64(40), start: field64(48) };
    Ok((dir, at as u64))
}

/// Parse the central-directory entry at the start of `b` (the `i`th);
/// returns it (data not yet located) and its length.
fn central_entry(b: &[u8], i: u64) -> Result<(Entry, usize), Problem> {
    let short = || invalid(format!("central directory entry {i} runs past the directory"));
    if u32_at(b, 0) != Some(CENTRAL_SIG) {
        return Err(invalid(format!("central directory entry {i} has a bad signature")));
    }
    let f16 = |at| u16_at(b, at).ok_or_else(short);
    let f32 = |at| u32_at(b, at).ok_or_else(short);
    let flags = f16(8)?;
    let method = f16(10)?;
    let crc32 = f32(16)?;
    let mut compressed = f32(20)? as u64;
    let mut uncompressed = f32(24)? as u64;
    let name_len = f16(28)? as usize;
    let extra_len = f16(30)? as usize;
    let comment_len = f16(32)? as usize;
    let mut disk = f16(34)? as u32;
    let mut header_offset = f32(42)? as u64;
    let len = CENTRAL_LEN + name_len + extra_len + comment_len;
    let name_bytes = b.get(CENTRAL_LEN..CENTRAL_LEN + name_len).ok_or_else(short)?;
    let extra = b.get(CENTRAL_LEN + name_len..CENTRAL_LEN + name_len + extra_len).ok_or_else(short)?;
    if b.len() < len {
        return Err(short());
    }
    let name = std::str::from_utf8(name_bytes)
        .map_err(|_| invalid(format!("member name of entry {i} is not UTF-8: {}", String::from_utf8_lossy(name_bytes))))?
        .to_owned();
    if flags & 0x0041 != 0 || flags & 0x2000 != 0 {
        return Err(Problem::Unsupported(format!("member '{name}' is encrypted")));
    }
    let method = match method {
        0 => Method::Stored,
        8 => Method::Deflated,
        m => return Err(Problem::Unsupported(format!("member '{name}' uses compression method {m} (only stored and deflated are read)"))),
    };
    if let Some(z) = find_extra(extra, ZIP64_EXTRA_ID) {
        // Only the fields whose 32/16-bit values are saturated, in order.
        let mut at = 0usize;
        let mut take64 = |field: &mut u64| -> Result<(), Problem> {
            if *field == u32::MAX as u64 {
                *field = u64_at(z, at).ok_or_else(|| invalid(format!("member '{name}': ZIP64 extra field is too short")))?;
                at += 8;
            }
            Ok(())
        };
        take64(&mut uncompressed)?;
        take64(&mut compressed)?;
        take64(&mut header_offset)?;
        if disk == u16::MAX as u32 {
            disk = u32_at(z, at).ok_or_else(|| invalid(format!("member '{name}': ZIP64 extra field is too short")))?;
        }
    }
    if disk != 0 {
        return Err(Problem::Unsupported("multi-disk (split) zip archives".into()));
    }
    let entry = Entry { name, method, crc32, compressed_size: compressed, uncompressed_size: uncompressed, header_offset, data_start: 0 };
    Ok((entry, len))
}

/// The data of the extra-field block with this id, if present and whole.
fn find_extra(mut extra: &[u8], id: u16) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let this = u16_at(extra, 0)?;
        let len = u16_at(extra, 2)? as usize;
        let data = extra.get(4..4 + len)?;
        if this == id {
            return Some(data);
        }
        extra = &extra[4 + len..];
    }
    None
}

/// Check the member's local header against its entry and find its data,
/// which must end before the central directory at `dir_start`.
fn locate_data(bytes: &[u8], mut entry: Entry, dir_start: u64) -> Result<Entry, Problem> {
    let name = entry.name.clone();
    let bad = |rule: &str| invalid(format!("member '{name}': {rule}"));
    let at = offset(bytes, entry.header_offset)
        .filter(|&a| (a as u64).saturating_add(LOCAL_LEN as u64) <= dir_start)
        .ok_or_else(|| bad("local header offset is outside the member data area"))?;
    let local = &bytes[at..];
    if u32_at(local, 0) != Some(LOCAL_SIG) {
        return Err(bad("no local header where the central directory points"));
    }
    let method = u16_at(local, 8).unwrap_or(u16::MAX);
    let name_len = u16_at(local, 26).unwrap_or(0) as usize;
    let extra_len = u16_at(local, 28).unwrap_or(0) as usize;
    if local.get(LOCAL_LEN..LOCAL_LEN + name_len) != Some(entry.name.as_bytes()) {
        return Err(bad("local header names a different member than the central directory"));
    }
    let central_method = if entry.method == Method::Stored { 0 } else { 8 };
    if method != central_method {
        return Err(bad("local header and central directory disagree on the compression method"));
    }
    entry.data_start = entry.header_offset + (LOCAL_LEN + name_len + extra_len) as u64;
    let data_end = entry.data_start.checked_add(entry.compressed_size);
    if data_end.is_none_or(|end| end > dir_start) {
        return Err(bad(&format!("its {} bytes of data run past the start of the central directory", entry.compressed_size)));
    }
    Ok(entry)
}

/// Members must not share bytes (overlapping members are a zip-bomb trick).
fn check_no_overlap(entries: &[Entry]) -> Result<(), Problem> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].header_offset);
    for pair in order.windows(2) {
        let (a, b) = (&entries[pair[0]], &entries[pair[1]]);
        if a.data_end() > b.header_offset {
            return Err(invalid(format!("members '{}' and '{}' overlap", a.name, b.name)));
        }
    }
    Ok(())
}
