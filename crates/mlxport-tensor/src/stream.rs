//! Reading a tensor's bytes front to back in bounded pieces.
//!
//! [`TensorSource::raw`](crate::TensorSource::raw) hands out a tensor's
//! bytes whole. That is free for a memory-mapped file, but touching every
//! page of a mapping leaves it all resident, and a deflated npz member has
//! to be inflated into one buffer. [`ChunkRead`], from
//! [`TensorSource::chunks`](crate::TensorSource::chunks), reads the same
//! little-endian, row-major bytes in pieces of a size the caller picks:
//!
//! - [`MappedChunks`] borrows pieces from a memory map, maps each piece's
//!   pages in one call, and tells the kernel to drop the pages it has
//!   passed from the process (they stay in the page cache), so resident
//!   memory stays near one piece.
//! - the npz reader inflates deflated members piece by piece, checking the
//!   size and CRC-32 as it goes (an error surfaces at the piece that
//!   reaches it, at the latest with the last piece);
//! - [`SliceChunks`] serves anything else (byte-swapped or transposed npy
//!   data, GGUF blocks) from the whole-tensor bytes.
//!
//! ```
//! use mlxport_tensor::stream::{ChunkRead, SliceChunks};
//! let mut r = SliceChunks::new(std::borrow::Cow::Borrowed(&[1u8, 2, 3, 4, 5][..]));
//! assert_eq!(r.next_chunk(2).unwrap(), &[1, 2]);
//! assert_eq!(r.next_chunk(8).unwrap(), &[3, 4, 5]);
//! assert!(r.next_chunk(8).unwrap().is_empty());
//! ```

use std::borrow::Cow;

use memmap2::Mmap;

use crate::error::Result;

/// A tensor's bytes, read in order in pieces.
pub trait ChunkRead {
    /// Total bytes of the tensor.
    fn len(&self) -> u64;
    /// Bytes not yet returned.
    fn remaining(&self) -> u64;
    /// Whether the tensor has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The next `min(max, remaining)` bytes; empty once everything has been
    /// read (and checked). A piece is never shorter than asked for unless
    /// it is the last one.
    fn next_chunk(&mut self, max: usize) -> Result<&[u8]>;
}

/// Pieces of bytes already at hand (borrowed or owned).
pub struct SliceChunks<'a> {
    data: Cow<'a, [u8]>,
    pos: usize,
}

impl<'a> SliceChunks<'a> {
    pub fn new(data: Cow<'a, [u8]>) -> Self {
        SliceChunks { data, pos: 0 }
    }
}

impl ChunkRead for SliceChunks<'_> {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn remaining(&self) -> u64 {
        (self.data.len() - self.pos) as u64
    }
    fn next_chunk(&mut self, max: usize) -> Result<&[u8]> {
        let end = self.pos + max.min(self.data.len() - self.pos);
        let piece = &self.data[self.pos..end];
        self.pos = end;
        Ok(piece)
    }
}

/// Pieces borrowed from a range of a read-only memory map. Pages before the
/// piece being handed out are released from the process as it advances
/// (`MADV_DONTNEED`; they stay in the page cache), and the pages of the
/// next piece are requested ahead (`MADV_WILLNEED`).
pub struct MappedChunks<'a> {
    map: &'a Mmap,
    start: usize,
    end: usize,
    pos: usize,
    /// Map offset up to which pages have been released.
    released: usize,
}

impl<'a> MappedChunks<'a> {
    /// Bytes `start..end` of `map`. The range must lie inside the map
    /// (readers validate spans before they hand them out); it is clamped
    /// otherwise.
    pub fn new(map: &'a Mmap, start: usize, end: usize) -> Self {
        let end = end.min(map.len());
        let start = start.min(end);
        MappedChunks { map, start, end, pos: start, released: start }
    }

    /// The current offset in the map (the start of the next piece).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Release pages of `released..upto` once at least `min` bytes are due.
    fn release_before(&mut self, upto: usize, min: usize) {
        if upto <= self.released || upto - self.released < min {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: the map is a read-only, shared file mapping, so
            // dropping pages from the process loses nothing: a later access
            // faults them in again from the file. No piece of this range is
            // still borrowed: `next_chunk` takes `&mut self`, so the caller
            // has let go of every earlier piece.
            let _ = unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.released, upto - self.released) };
        }
        self.released = upto;
    }
}

impl ChunkRead for MappedChunks<'_> {
    fn len(&self) -> u64 {
        (self.end - self.start) as u64
    }
    fn remaining(&self) -> u64 {
        (self.end - self.pos) as u64
    }
    fn next_chunk(&mut self, max: usize) -> Result<&[u8]> {
        self.release_before(self.pos, 1 << 20);
        let end = self.pos + max.min(self.end - self.pos);
        #[cfg(target_os = "linux")]
        if end > self.pos {
            // Map the piece's pages in one call rather than one fault per
            // few pages (a hint: ignored where the kernel lacks it).
            let _ = self.map.advise_range(memmap2::Advice::PopulateRead, self.pos, end - self.pos);
        }
        #[cfg(unix)]
        if end < self.end {
            let ahead = max.min(self.end - end);
            let _ = self.map.advise_range(memmap2::Advice::WillNeed, end, ahead);
        }
        let piece = &self.map[self.pos..end];
        self.pos = end;
        Ok(piece)
    }
}

impl Drop for MappedChunks<'_> {
    fn drop(&mut self) {
        self.release_before(self.pos, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_pieces_cover_the_range_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let map = unsafe { Mmap::map(&f) }.unwrap();
        let mut r = MappedChunks::new(&map, 13, 4_999_990);
        assert_eq!(r.len(), 4_999_977);
        let mut got = Vec::new();
        loop {
            let c = r.next_chunk(1 << 20).unwrap();
            if c.is_empty() {
                break;
            }
            got.extend_from_slice(c);
        }
        assert_eq!(&got[..], &data[13..4_999_990]);
        assert_eq!(r.remaining(), 0);
        // The map still reads correctly after pages were released.
        assert_eq!(&map[..], &data[..]);
    }
}
