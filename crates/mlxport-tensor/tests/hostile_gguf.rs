//! Hostile GGUF files, generated here byte by byte: each must be rejected
//! with an error naming the file and the broken rule, without a panic, a
//! hang or unbounded memory.

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]

mod common;

use std::path::PathBuf;

use common::hostile::assert_rejected;
use mlxport_tensor::gguf::GgufFile;
use mlxport_tensor::TensorSource;

#[global_allocator]
static ALLOC: mlxport_testkit::alloc::Counting = mlxport_testkit::alloc::Counting;

const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const F32: u32 = 0;
const Q4_0: u32 = 2;

/// A little-endian GGUF byte builder.
#[derive(Clone, Default)]
struct G(Vec<u8>);

impl G {
    fn header(version: u32, tensors: u64, kvs: u64) -> G {
        let mut g = G(b"GGUF".to_vec());
        g.u32(version).u64(tensors).u64(kvs);
        g
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64).bytes(s)
    }
    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key.as_bytes()).u32(4).u32(v)
    }
    fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.str(key.as_bytes()).u32(T_STRING).str(v.as_bytes())
    }
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    fn pad(&mut self, align: usize) -> &mut Self {
        while self.0.len() % align != 0 {
            self.0.push(0);
        }
        self
    }
    fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

/// One tensor `w` of `dims` and `ty`, one KV, data padded and present.
fn one_tensor(dims: &[u64], ty: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut g = G::header(3, 1, 1);
    g.kv_str("general.architecture", "llama").tensor("w", dims, ty, offset).pad(32).zeros(data);
    g.0
}

/// Two F32 tensors of `n` values at the given offsets.
fn two_tensors(a: (&str, u64), b: (&str, u64), n: u64, data: usize) -> Vec<u8> {
    let mut g = G::header(3, 2, 0);
    g.tensor(a.0, &[n], F32, a.1).tensor(b.0, &[n], F32, b.1).pad(32).zeros(data);
    g.0
}

/// A file with one key/value whose value is built by `f`.
fn one_kv(key: &[u8], f: impl FnOnce(&mut G)) -> Vec<u8> {
    let mut g = G::header(3, 0, 1);
    g.str(key);
    f(&mut g);
    g.0
}

fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut c: Vec<(&'static str, Vec<u8>, &'static str)> = Vec::new();
    c.push(("empty", Vec::new(), "bad magic"));
    let mut bad = G::header(3, 0, 0).0;
    bad[3] = b'X';
    c.push(("bad_magic", bad, "bad magic"));
    c.push(("version_1", G::header(1, 0, 0).0, "version 1"));
    c.push(("version_99", G::header(99, 0, 0).0, "version 99"));
    c.push(("big_endian", G::header(3u32.swap_bytes(), 0, 0).0, "big-endian"));
    c.push(("truncated_header", G::header(3, 0, 0).0[..12].to_vec(), "truncated header"));
    c.push(("tensor_count_2_63", G::header(3, 1 << 63, 0).zeros(64).0.clone(), "tensor count"));
    c.push(("kv_count_beyond_file", G::header(3, 0, 1000).zeros(100).0.clone(), "key/value count 1000"));
    c.push((
        "string_length_beyond_file",
        one_kv(b"general.name", |g| {
            g.u32(T_STRING).u64(1 << 40).bytes(b"short");
        }),
        "claims 1099511627776 bytes",
    ));
    c.push(("key_length_beyond_file", G::header(3, 0, 1).u64(1 << 62).zeros(16).0.clone(), "more than the limit"));
    c.push((
        "array_count_2_60",
        one_kv(b"tokenizer.ggml.tokens", |g| {
            g.u32(T_ARRAY).u32(T_STRING).u64(1 << 60).zeros(64);
        }),
        "declares 1152921504606846976 string elements",
    ));
    c.push((
        "array_nesting_1000",
        one_kv(b"deep", |g| {
            g.u32(T_ARRAY);
            for _ in 0..1000 {
                g.u32(T_ARRAY).u64(1);
            }
            g.u32(0).u64(0);
        }),
        "nests arrays more than",
    ));
    c.push((
        "invalid_bool",
        one_kv(b"flag", |g| {
            g.u32(7).u8(2);
        }),
        "invalid bool 2",
    ));
    c.push((
        "invalid_bool_in_array",
        one_kv(b"flags", |g| {
            g.u32(T_ARRAY).u32(7).u64(3).bytes(&[0, 1, 255]);
        }),
        "invalid bool 255",
    ));
    c.push((
        "invalid_utf8_key",
        one_kv(b"gen\xffname", |g| {
            g.u32(4).u32(1);
        }),
        "not valid UTF-8",
    ));
    c.push((
        "invalid_utf8_string_in_array",
        one_kv(b"tokenizer.ggml.tokens", |g| {
            g.u32(T_ARRAY).u32(T_STRING).u64(2).str(b"ok").str(b"\xc3\x28");
        }),
        "string #1 of array 'tokenizer.ggml.tokens'",
    ));
    c.push((
        "empty_key",
        one_kv(b"", |g| {
            g.u32(4).u32(1);
        }),
        "empty key",
    ));
    let mut dup = G::header(3, 0, 2);
    dup.kv_u32("llama.block_count", 30).kv_u32("llama.block_count", 31);
    c.push(("duplicate_key", dup.0, "duplicate key 'llama.block_count'"));
    c.push((
        "unknown_value_type",
        one_kv(b"x", |g| {
            g.u32(13).u32(0);
        }),
        "unknown value type 13",
    ));
    c.push((
        "unknown_array_element_type",
        one_kv(b"x", |g| {
            g.u32(T_ARRAY).u32(200).u64(1).u32(0);
        }),
        "unknown value type 200",
    ));
    c.push(("unknown_ggml_type", one_tensor(&[32], 99, 0, 128), "unknown ggml type 99"));
    c.push(("removed_ggml_type_4", one_tensor(&[32], 4, 0, 128), "unknown ggml type 4"));
    let mut many_dims = G::header(3, 1, 0);
    many_dims.str(b"w").u32(1000).zeros(8 * 1000 + 64);
    c.push(("n_dims_1000", many_dims.0, "n_dims 1000"));
    c.push(("dims_product_overflow", one_tensor(&[1 << 32, 1 << 32, 4], F32, 0, 64), "product overflows"));
    c.push(("row_not_block_multiple", one_tensor(&[33, 2], Q4_0, 0, 256), "not a multiple of the Q4_0 block size 32"));
    for (name, a) in [("alignment_0", 0u32), ("alignment_3", 3)] {
        let mut g = G::header(3, 1, 1);
        g.kv_u32("general.alignment", a).tensor("w", &[8], F32, 0).pad(32).zeros(64);
        c.push((name, g.0, "nonzero power of two"));
    }
    let mut align_type = G::header(3, 0, 1);
    align_type.str(b"general.alignment").u32(10).u64(32);
    c.push(("alignment_not_u32", align_type.0, "must be a u32"));
    c.push(("misaligned_offset", one_tensor(&[8], F32, 4, 64), "misaligned"));
    c.push(("extent_past_eof", one_tensor(&[64], F32, 0, 100), "past the end of the file"));
    c.push(("offset_near_u64_max", one_tensor(&[8], F32, u64::MAX - 31, 64), "past the end of the file"));
    c.push(("overlapping_tensors", two_tensors(("a", 0), ("b", 0), 8, 64), "overlap"));
    c.push(("overlapping_tensors_partial", two_tensors(("a", 0), ("b", 32), 16, 96), "overlap"));
    c.push(("duplicate_tensor_names", two_tensors(("w", 0), ("w", 32), 8, 64), "duplicate tensor name 'w'"));
    c.push(("tensor_name_too_long", one_tensor_named(&"n".repeat(5000)), "more than the limit of 1024"));
    c.push(("unsupported_dequant_type", one_tensor(&[256], 16, 0, 66), "unsupported ggml type IQ2_XXS for dequantization"));
    c.push(("truncated_tensor_info", G::header(3, 1, 0).str(b"w").u32(2).u64(8).u64(8).u32(0).0.clone(), "file ends inside"));
    // A million empty strings (8 MB) then the file ends: memory stays bounded.
    let mut big = G::header(3, 0, 2);
    big.str(b"tokenizer.ggml.tokens").u32(T_ARRAY).u32(T_STRING).u64(1_000_000).zeros(8_000_000).str(b"next");
    c.push(("million_strings_then_truncated", big.0, "file ends inside"));
    c
}

fn one_tensor_named(name: &str) -> Vec<u8> {
    let mut g = G::header(3, 1, 0);
    g.tensor(name, &[8], F32, 0).pad(32).zeros(64);
    g.0
}

#[test]
fn hostile_gguf_files_are_rejected() {
    let dir = mlxport_testkit::tempdir();
    let all = cases();
    assert!(all.len() >= 30);
    for (name, bytes, rule) in all {
        let path: PathBuf = dir.path().join(format!("{name}.gguf"));
        std::fs::write(&path, &bytes).unwrap();
        assert_rejected(&path, GgufFile::open, rule);
    }
}

/// The builders above make valid files when nothing is broken, so each
/// case fails for its own reason.
#[test]
fn baselines_are_accepted() {
    let dir = mlxport_testkit::tempdir();
    let ok: Vec<(&str, Vec<u8>)> = vec![
        ("one_f32", one_tensor(&[8, 2], F32, 0, 64)),
        ("one_q4_0", one_tensor(&[32, 2], Q4_0, 0, 36)),
        ("two_f32", two_tensors(("a", 0), ("b", 32), 8, 64)),
        ("no_tensors", G::header(2, 0, 0).0),
        ("scalar_tensor", one_tensor(&[], F32, 0, 4)),
        ("zero_size_tensor", one_tensor(&[0, 4], Q4_0, 0, 0)),
    ];
    for (name, bytes) in ok {
        let path = dir.path().join(format!("{name}.gguf"));
        std::fs::write(&path, &bytes).unwrap();
        let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for t in f.tensors().to_vec() {
            let v = f.read_f32(&t.name).unwrap();
            assert_eq!(v.len() as u64, t.numel());
            assert!(v.iter().all(|x| *x == 0.0));
        }
    }
    let mut g = G::header(3, 1, 2);
    g.kv_u32("general.alignment", 64).kv_str("general.architecture", "llama").tensor("w", &[4, 3], F32, 0).pad(64);
    for i in 0..12u32 {
        g.bytes(&(i as f32).to_le_bytes());
    }
    let path = dir.path().join("aligned64.gguf");
    std::fs::write(&path, &g.0).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensors()[0].shape, vec![3, 4]);
    assert_eq!(f.read_f32("w").unwrap(), (0..12).map(|i| i as f32).collect::<Vec<_>>());
}

/// A small valid file with several key/value kinds and block-quantized
/// tensors, for truncation and mutation.
fn rich_file() -> Vec<u8> {
    let mut g = G::header(3, 3, 4);
    g.kv_str("general.architecture", "llama").kv_u32("general.alignment", 32);
    g.str(b"tokenizer.ggml.tokens").u32(T_ARRAY).u32(T_STRING).u64(3).str(b"a").str(b"bc").str(b"");
    g.str(b"nested").u32(T_ARRAY).u32(T_ARRAY).u64(2);
    g.u32(7).u64(2).bytes(&[0, 1]).u32(5).u64(1).u32(9);
    g.tensor("q", &[32, 2], Q4_0, 0).tensor("k", &[256], 12, 64).tensor("f", &[4], F32, 224);
    g.pad(32);
    for i in 0..240u32 {
        g.u8((i * 37 % 251) as u8);
    }
    g.0
}

fn open_and_read_all(path: &std::path::Path) {
    if let Ok(f) = GgufFile::open(path) {
        for t in f.tensors().to_vec() {
            let _ = f.raw(&t.name);
            let _ = f.read_f32(&t.name);
        }
        let _ = f.metadata();
    }
}

/// Every truncation and thousands of random byte mutations of a valid
/// file: never a panic (each open either succeeds or returns an error).
#[test]
fn truncations_and_mutations_never_panic() {
    let dir = mlxport_testkit::tempdir();
    let good = rich_file();
    let path = dir.path().join("rich.gguf");
    std::fs::write(&path, &good).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.tensors().len(), 3);
    assert_eq!(f.get_strings("tokenizer.ggml.tokens").unwrap(), ["a", "bc", ""]);
    for t in f.tensors().to_vec() {
        f.read_f32(&t.name).unwrap();
    }
    for n in 0..good.len() {
        let p = dir.path().join("cut.gguf");
        std::fs::write(&p, &good[..n]).unwrap();
        let r = std::panic::catch_unwind(|| open_and_read_all(&p));
        assert!(r.is_ok(), "panic on the file cut to {n} bytes");
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rnd() % 4 {
            let at = (rnd() % bytes.len() as u64) as usize;
            bytes[at] = match rnd() % 4 {
                0 => 0xff,
                1 => 0,
                _ => rnd() as u8,
            };
        }
        let p = dir.path().join("mutant.gguf");
        std::fs::write(&p, &bytes).unwrap();
        let r = std::panic::catch_unwind(|| open_and_read_all(&p));
        assert!(r.is_ok(), "panic on mutant #{round}");
    }
}
