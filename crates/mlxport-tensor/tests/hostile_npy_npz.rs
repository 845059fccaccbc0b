//! Hostile .npy and .npz files, generated here: each must be rejected with
//! an error naming the file and the broken rule, without a panic, a hang
//! or unbounded memory (see `common::hostile`).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::hostile::assert_rejected;
use flate2::{Compress, Compression, FlushCompress};
use mlxport_tensor::npy::NpyFile;
use mlxport_tensor::npz::NpzFile;

#[global_allocator]
static ALLOC: mlxport_testkit::alloc::Counting = mlxport_testkit::alloc::Counting;

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

/// An .npy file with this version, header text and data (the header length
/// field is the text's length; no padding).
fn npy(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY".to_vec();
    v.extend_from_slice(&[version.0, version.1]);
    if version.0 == 1 {
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        v.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    v.extend_from_slice(dict.as_bytes());
    v.extend_from_slice(data);
    v
}

fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

fn deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// One zip member as the directory will describe it.
#[derive(Clone)]
struct Member {
    name: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    data: Vec<u8>,
    /// Put the sizes in a ZIP64 extra field of the central entry.
    zip64_sizes: bool,
}

/// An honest member holding `content`, deflated or stored.
fn member(name: &str, content: &[u8], deflated: bool) -> Member {
    let data = if deflated { deflate(content) } else { content.to_vec() };
    Member {
        name: name.as_bytes().to_vec(),
        method: if deflated { 8 } else { 0 },
        flags: 0,
        crc: crc32(content),
        compressed: data.len() as u64,
        uncompressed: content.len() as u64,
        data,
        zip64_sizes: false,
    }
}

/// A small valid npy: four f32 values.
fn small_npy() -> Vec<u8> {
    npy((1, 0), &dict("<f4", "(4,)"), &[0u8; 16])
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// How the end of the archive is written.
#[derive(Default)]
struct Tail {
    /// Write ZIP64 end records.
    zip64: bool,
    /// Declare this many members instead of the true count.
    declared_entries: Option<u64>,
}

/// Assemble a zip: local headers and data, central directory, end records.
fn zip(members: &[Member], tail: Tail) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for m in members {
        offsets.push(out.len() as u64);
        le32(&mut out, 0x0403_4b50);
        le16(&mut out, 20);
        le16(&mut out, m.flags);
        le16(&mut out, m.method);
        le16(&mut out, 0);
        le16(&mut out, 0x21);
        le32(&mut out, m.crc);
        le32(&mut out, m.compressed.min(u32::MAX as u64) as u32);
        le32(&mut out, m.uncompressed.min(u32::MAX as u64) as u32);
        le16(&mut out, m.name.len() as u16);
        le16(&mut out, 0);
        out.extend_from_slice(&m.name);
        out.extend_from_slice(&m.data);
    }
    let cd_start = out.len() as u64;
    for (m, &off) in members.iter().zip(&offsets) {
        let mut extra = Vec::new();
        let (csize, usize_) = if m.zip64_sizes {
            le16(&mut extra, 1);
            le16(&mut extra, 16);
            le64(&mut extra, m.uncompressed);
            le64(&mut extra, m.compressed);
            (u32::MAX, u32::MAX)
        } else {
            (m.compressed as u32, m.uncompressed as u32)
        };
        le32(&mut out, 0x0201_4b50);
        le16(&mut out, 0x031e);
        le16(&mut out, 20);
        le16(&mut out, m.flags);
        le16(&mut out, m.method);
        le16(&mut out, 0);
        le16(&mut out, 0x21);
        le32(&mut out, m.crc);
        le32(&mut out, csize);
        le32(&mut out, usize_);
        le16(&mut out, m.name.len() as u16);
        le16(&mut out, extra.len() as u16);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le32(&mut out, 0);
        le32(&mut out, off as u32);
        out.extend_from_slice(&m.name);
        out.extend_from_slice(&extra);
    }
    let cd_size = out.len() as u64 - cd_start;
    let entries = tail.declared_entries.unwrap_or(members.len() as u64);
    if tail.zip64 {
        let rec = out.len() as u64;
        le32(&mut out, 0x0606_4b50);
        le64(&mut out, 44);
        le16(&mut out, 45);
        le16(&mut out, 45);
        le32(&mut out, 0);
        le32(&mut out, 0);
        le64(&mut out, entries);
        le64(&mut out, entries);
        le64(&mut out, cd_size);
        le64(&mut out, cd_start);
        le32(&mut out, 0x0706_4b50);
        le32(&mut out, 0);
        le64(&mut out, rec);
        le32(&mut out, 1);
    }
    let e16 = if tail.zip64 { u16::MAX } else { entries.min(u16::MAX as u64) as u16 };
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, e16);
    le16(&mut out, e16);
    le32(&mut out, if tail.zip64 { u32::MAX } else { cd_size as u32 });
    le32(&mut out, if tail.zip64 { u32::MAX } else { cd_start as u32 });
    le16(&mut out, 0);
    out
}

/// Raw deflate of `head` followed by `mib` MiB of zeros, built in time
/// proportional to the compressed size: once the compressor reaches a
/// steady state, each sync-flushed MiB of zeros compresses to the same
/// bytes, which are repeated.
fn deflated_zeros(head: &[u8], mib: usize) -> Vec<u8> {
    fn step(c: &mut Compress, mut input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 100 + 4096);
        loop {
            let before = c.total_in();
            c.compress_vec(input, &mut out, flush).unwrap();
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(1 << 16);
        }
    }
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = step(&mut c, head, FlushCompress::Sync);
    out.extend(step(&mut c, &zeros, FlushCompress::Sync));
    let steady = step(&mut c, &zeros, FlushCompress::Sync);
    assert_eq!(steady, step(&mut c, &zeros, FlushCompress::Sync), "compressor did not reach a steady state");
    for _ in 0..mib - 1 {
        out.extend_from_slice(&steady);
    }
    out.extend(step(&mut c, &[], FlushCompress::Finish));
    out
}

/// CRC-32 of `head` followed by `mib` MiB of zeros.
fn crc_of_zeros(head: &[u8], mib: usize) -> u32 {
    let zeros = vec![0u8; 1 << 20];
    let mut c = flate2::Crc::new();
    c.update(head);
    for _ in 0..mib {
        c.update(&zeros);
    }
    c.sum()
}

// ---------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------

#[test]
fn hostile_npy() {
    let tmp = mlxport_testkit::tempdir();
    let d = tmp.path();
    let good = dict("<f4", "(2, 2)");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("tiny.npy", b"\x93NUM".to_vec(), "too short"),
        ("bad_magic.npy", npy((1, 0), &good, &[0; 16]).iter().map(|&b| if b == b'Y' { b'X' } else { b }).collect(), "magic"),
        ("bad_version.npy", npy((4, 0), &good, &[0; 16]), "version 4.0"),
        ("minor_version.npy", npy((1, 1), &good, &[0; 16]), "version 1.1"),
        (
            "header_beyond_file.npy",
            {
                let mut v = npy((1, 0), &good, &[]);
                v[8..10].copy_from_slice(&5000u16.to_le_bytes());
                v
            },
            "beyond the end of the file",
        ),
        (
            "header_too_long.npy",
            {
                let mut v = npy((2, 0), &good, &[0; 16]);
                v[8..12].copy_from_slice(&(1u32 << 31).to_le_bytes());
                v
            },
            "exceeds the limit",
        ),
        ("not_a_dict.npy", npy((1, 0), "[1, 2, 3]\n", &[]), "not a dict"),
        ("extra_key.npy", npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'evil': 1}", &[0; 4]), "unexpected key 'evil'"),
        ("missing_key.npy", npy((1, 0), "{'descr': '<f4', 'shape': ()}", &[0; 4]), "missing key 'fortran_order'"),
        ("duplicate_key.npy", npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': ()}", &[0; 4]), "twice"),
        ("negative_shape.npy", npy((1, 0), &dict("<f4", "(-1, 4)"), &[0; 16]), "negative"),
        ("shape_overflow.npy", npy((1, 0), &dict("<f4", "(4294967296, 4294967296)"), &[0; 16]), "overflow"),
        ("bytes_overflow.npy", npy((1, 0), &dict("<f8", "(4611686018427387904,)"), &[0; 16]), "overflow"),
        ("dim_too_big.npy", npy((1, 0), &dict("<f4", "(123456789012345678901234567890,)"), &[0; 16]), "64 bits"),
        ("data_short.npy", npy((1, 0), &good, &[0; 15]), "truncated"),
        ("huge_declared.npy", npy((1, 0), &dict("<f4", "(1099511627776,)"), &[0; 16]), "truncated"),
        ("trailing_data.npy", npy((1, 0), &good, &[0; 17]), "trailing bytes"),
        ("object.npy", npy((1, 0), &dict("|O", "(1,)"), b"\x80\x04\x95cos\nsystem\n."), "pickle"),
        ("structured.npy", npy((1, 0), "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", &[0; 4]), "structured"),
        ("unicode_dtype.npy", npy((1, 0), &dict("<U4", "(1,)"), &[0; 16]), "dtype '<U4'"),
        ("void_dtype.npy", npy((1, 0), &dict("<V2", "(1,)"), &[0; 2]), "bfloat16"),
        ("tuple_not_tuple.npy", npy((1, 0), &dict("<f4", "(4)"), &[0; 16]), "trailing comma"),
        ("fortran_not_bool.npy", npy((1, 0), "{'descr': '<f4', 'fortran_order': 1, 'shape': ()}", &[0; 4]), "True or False"),
        ("junk_after_dict.npy", npy((1, 0), &format!("{} import os", good.trim_end()), &[0; 16]), "after the closing"),
        (
            "v3_not_utf8.npy",
            {
                let mut v = npy((3, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': ()}#", &[0; 4]);
                let at = v.iter().position(|&b| b == b'#').unwrap();
                v[at] = 0xff;
                v
            },
            "UTF-8",
        ),
        ("escape_in_string.npy", npy((1, 0), "{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': ()}", &[0; 4]), "escape"),
        ("too_many_dims.npy", npy((1, 0), &dict("|u1", &format!("({})", "1, ".repeat(65))), &[0; 1]), "more than 64"),
    ];
    assert!(cases.len() >= 12);
    for (name, bytes, rule) in cases {
        let p = write(d, name, &bytes);
        assert_rejected(&p, NpyFile::open, rule);
    }
}

// ---------------------------------------------------------------------------
// .npz
// ---------------------------------------------------------------------------

#[test]
fn hostile_npz_names_and_structure() {
    let tmp = mlxport_testkit::tempdir();
    let d = tmp.path();
    let ok = small_npy();
    let valid = zip(&[member("a.npy", &ok, true), member("b.npy", &ok, false)], Tail::default());
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.npz", Vec::new(), "empty"),
        ("truncated.npz", valid[..valid.len() / 2].to_vec(), "end-of-central-directory"),
        ("cut_directory.npz", valid[..valid.len() - 30].to_vec(), "end-of-central-directory"),
        ("traversal.npz", zip(&[member("../evil.npy", &ok, false)], Tail::default()), "'..' component"),
        ("deep_traversal.npz", zip(&[member("a/../../evil.npy", &ok, false)], Tail::default()), "'..' component"),
        ("absolute.npz", zip(&[member("/etc/evil.npy", &ok, false)], Tail::default()), "absolute"),
        ("drive.npz", zip(&[member("C:/evil.npy", &ok, false)], Tail::default()), "absolute"),
        ("backslash.npz", zip(&[member("..\\evil.npy", &ok, false)], Tail::default()), "backslash"),
        ("nul.npz", zip(&[member("a\0.txt.npy", &ok, false)], Tail::default()), "NUL"),
        ("duplicate.npz", zip(&[member("a.npy", &ok, false), member("a.npy", &ok, true)], Tail::default()), "duplicate member name 'a.npy'"),
        ("not_npy.npz", zip(&[member("a.npy", &ok, false), member("run.sh", b"rm -rf /", false)], Tail::default()), "not a .npy"),
        ("bad_member_header.npz", zip(&[member("a.npy", b"\x93NUMPY\x09\x00", false)], Tail::default()), "member 'a.npy'"),
        ("member_object.npz", zip(&[member("o.npy", &npy((1, 0), &dict("|O", "(1,)"), b"\x80\x04."), true)], Tail::default()), "pickle"),
        ("member_trailing.npz", zip(&[member("a.npy", &[ok.clone(), vec![0; 4]].concat(), true)], Tail::default()), "trailing bytes"),
        ("prepended.npz", [b"#!/bin/sh\n".to_vec(), valid.clone()].concat(), "does not end where"),
        ("count_lie.npz", zip(&[member("a.npy", &ok, false)], Tail { zip64: false, declared_entries: Some(3) }), "cannot hold"),
        ("zip64_count_lie.npz", zip(&[member("a.npy", &ok, false)], Tail { zip64: true, declared_entries: Some(1 << 40) }), "limit of 100000 members"),
    ];
    // A stored member whose data are altered after the CRC was taken.
    let mut m = member("a.npy", &ok, false);
    *m.data.last_mut().unwrap() ^= 1;
    cases.push(("crc.npz", zip(&[m], Tail::default()), "CRC-32 mismatch"));
    // Encrypted and exotic compression.
    let mut m = member("a.npy", &ok, false);
    m.flags = 1;
    cases.push(("encrypted.npz", zip(&[m], Tail::default()), "encrypted"));
    let mut m = member("a.npy", &ok, false);
    m.method = 12;
    cases.push(("bzip2.npz", zip(&[m], Tail::default()), "compression method 12"));
    // A stored member claiming the next member's bytes: overlap.
    let a = member("a.npy", &ok, false);
    let b = member("b.npy", &ok, false);
    let mut a_big = a.clone();
    a_big.compressed += 30 + 5 + b.data.len() as u64;
    a_big.uncompressed = a_big.compressed;
    cases.push(("overlap.npz", zip(&[a_big, b], Tail::default()), "overlap"));
    // Corrupt deflate data.
    let mut m = member("a.npy", &ok, true);
    m.data = vec![0xff; m.data.len()];
    cases.push(("corrupt_deflate.npz", zip(&[m], Tail::default()), "deflate"));
    // A stored member whose sizes disagree.
    let mut m = member("a.npy", &ok, false);
    m.uncompressed += 1;
    cases.push(("stored_sizes.npz", zip(&[m], Tail::default()), "is stored but declares"));
    // Local header names another member than the directory.
    let mut bytes = zip(&[member("a.npy", &ok, false)], Tail::default());
    bytes[30] = b'z';
    cases.push(("local_name.npz", bytes, "different member"));
    for (name, bytes, rule) in cases {
        let p = write(d, name, &bytes);
        assert_rejected(&p, NpzFile::open, rule);
    }
}

#[test]
fn hostile_npz_too_many_members() {
    let tmp = mlxport_testkit::tempdir();
    let empty = member("m.npy", &[], false);
    let members: Vec<Member> = (0..200_000).map(|i| Member { name: format!("m{i}.npy").into_bytes(), ..empty.clone() }).collect();
    let p = write(tmp.path(), "many.npz", &zip(&members, Tail { zip64: true, declared_entries: None }));
    assert_rejected(&p, NpzFile::open, "200000 members, more than the limit of 100000");
}

#[test]
fn hostile_npz_bombs_and_size_lies() {
    let tmp = mlxport_testkit::tempdir();
    let d = tmp.path();
    // An honest bomb: a member that really inflates to 2 GiB of zeros, with
    // every size declared truthfully. Refused by the inflation cap before
    // anything is inflated.
    let mib = 2048;
    let head = mlxport_tensor::npy::encode_header(mlxport_tensor::DType::U8, &[(mib as u64) << 20], false).unwrap();
    let stream = deflated_zeros(&head, mib);
    let honest = Member {
        name: b"zeros.npy".to_vec(),
        method: 8,
        flags: 0,
        crc: crc_of_zeros(&head, mib),
        compressed: stream.len() as u64,
        uncompressed: head.len() as u64 + ((mib as u64) << 20),
        data: stream,
        zip64_sizes: false,
    };
    let p = write(d, "bomb.npz", &zip(std::slice::from_ref(&honest), Tail::default()));
    assert_rejected(&p, NpzFile::open, "zip bomb");

    // The same stream under a directory that lies: it declares 16 MiB (a
    // plausible ratio), and the header agrees; inflating must stop there.
    let lie_mib = 16;
    let head16 = mlxport_tensor::npy::encode_header(mlxport_tensor::DType::U8, &[lie_mib << 20], false).unwrap();
    assert_eq!(head16.len(), head.len());
    let stream16 = deflated_zeros(&head16, mib);
    let liar = Member {
        data: stream16.clone(),
        compressed: stream16.len() as u64,
        uncompressed: head16.len() as u64 + (lie_mib << 20),
        crc: crc_of_zeros(&head16, lie_mib as usize),
        ..honest.clone()
    };
    let p = write(d, "size_lie.npz", &zip(std::slice::from_ref(&liar), Tail::default()));
    assert_rejected(&p, NpzFile::open, "more than its declared");

    // The same lie told through ZIP64 records and extra fields.
    let p = write(d, "size_lie_zip64.npz", &zip(&[Member { zip64_sizes: true, ..liar }], Tail { zip64: true, declared_entries: None }));
    assert_rejected(&p, NpzFile::open, "more than its declared");

    // A ZIP64 extra field claiming a terabyte from a few compressed bytes.
    let ok = small_npy();
    let mut m = member("a.npy", &ok, true);
    m.uncompressed = 1 << 40;
    m.zip64_sizes = true;
    let p = write(d, "zip64_ratio_lie.npz", &zip(&[m], Tail { zip64: true, declared_entries: None }));
    assert_rejected(&p, NpzFile::open, "size is a lie");

    // A member that inflates to less than it declares: its header calls
    // for 254 floats and the directory agrees, but only 4 are there.
    let content = npy((1, 0), &dict("<f4", "(254,)"), &[0; 16]);
    let header_len = content.len() - 16;
    let short = Member { uncompressed: (header_len + 254 * 4) as u64, ..member("a.npy", &content, true) };
    let p = write(d, "short_inflate.npz", &zip(&[short], Tail::default()));
    assert_rejected(&p, NpzFile::open, "fewer than its declared");
}
