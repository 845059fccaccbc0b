//! Hostile safetensors files and sharded indexes, generated here: each must
//! be rejected with an error naming the file and the broken rule, without a
//! panic, a hang or unbounded memory.

mod common;

use std::path::{Path, PathBuf};

use common::hostile::assert_rejected;
use mlxport_tensor::safetensors::{SafetensorsFile, ShardedSafetensors};

#[global_allocator]
static ALLOC: mlxport_testkit::alloc::Counting = mlxport_testkit::alloc::Counting;

/// Write raw bytes.
fn raw(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Write a safetensors file from header text and buffer bytes.
fn st(dir: &Path, name: &str, header: &str, buffer: &[u8]) -> PathBuf {
    st_bytes(dir, name, header.as_bytes(), buffer)
}

fn st_bytes(dir: &Path, name: &str, header: &[u8], buffer: &[u8]) -> PathBuf {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(buffer);
    raw(dir, name, &b)
}

fn entry(dtype: &str, shape: &str, begin: u64, end: u64) -> String {
    format!(r#"{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{begin},{end}]}}"#)
}

/// (file name, header, buffer length, rule words expected in the error)
fn header_cases() -> Vec<(&'static str, String, usize, &'static str)> {
    let u8x4 = |b, e| entry("U8", "[4]", b, e);
    vec![
        ("invalid_json.safetensors", r#"{"a":"#.into(), 0, "header JSON"),
        ("array_json.safetensors", "[1,2]".into(), 0, "JSON object"),
        ("string_json.safetensors", r#""abc""#.into(), 0, "JSON object"),
        ("object_not_tensor.safetensors", r#"{"a":[1]}"#.into(), 0, "object with dtype"),
        ("trailing_json.safetensors", format!(r#"{{"a":{}}} x"#, u8x4(0, 4)), 4, "trailing characters"),
        ("duplicate_key.safetensors", format!(r#"{{"a":{},"a":{}}}"#, u8x4(0, 4), u8x4(4, 8)), 8, "duplicate tensor name"),
        ("duplicate_escaped_key.safetensors", format!(r#"{{"a":{},"\u0061":{}}}"#, u8x4(0, 4), u8x4(4, 8)), 8, "duplicate tensor name"),
        ("duplicate_field.safetensors", r#"{"a":{"dtype":"U8","dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#.into(), 4, "duplicate field 'dtype'"),
        ("duplicate_metadata_key.safetensors", format!(r#"{{"__metadata__":{{"k":"1","k":"2"}},"a":{}}}"#, u8x4(0, 4)), 4, "duplicate key 'k'"),
        ("nul_in_name.safetensors", format!(r#"{{"a\u0000hidden":{}}}"#, u8x4(0, 4)), 4, "NUL byte"),
        ("metadata_as_tensor.safetensors", format!(r#"{{"__metadata__":{}}}"#, u8x4(0, 4)), 4, "may not be named '__metadata__'"),
        ("metadata_number.safetensors", r#"{"__metadata__":{"k":1}}"#.into(), 0, "'__metadata__'"),
        ("unknown_dtype.safetensors", format!(r#"{{"a":{}}}"#, entry("F128", "[1]", 0, 16)), 16, "unknown dtype 'F128'"),
        ("c128_dtype.safetensors", format!(r#"{{"a":{}}}"#, entry("C128", "[1]", 0, 16)), 16, "unknown dtype 'C128'"),
        ("negative_shape.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[-4]", 0, 4)), 4, "negative"),
        ("float_shape.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[4.0]", 0, 4)), 4, "not an integer"),
        ("huge_dim.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[1e30]", 0, 4)), 4, "not an integer"),
        ("shape_overflow.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[4294967296,4294967296,2]", 0, 0)), 0, "overflows"),
        ("bytes_overflow.safetensors", format!(r#"{{"a":{}}}"#, entry("F64", "[4611686018427387904]", 0, 0)), 0, "overflows"),
        ("rank_too_high.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", &format!("[{}]", ["1"; 65].join(",")), 0, 1)), 1, "more than 64"),
        ("size_mismatch.safetensors", format!(r#"{{"a":{}}}"#, entry("F32", "[2]", 0, 4)), 4, "size mismatch"),
        ("offsets_reversed.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[0]", 4, 0)), 4, "end before they begin"),
        ("offsets_three.safetensors", r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}"#.into(), 1, "more than 2"),
        ("missing_offsets.safetensors", r#"{"a":{"dtype":"U8","shape":[1]}}"#.into(), 1, "missing field 'data_offsets'"),
        ("extra_field.safetensors", r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0}}"#.into(), 1, "unknown field 'x'"),
        ("gap.safetensors", format!(r#"{{"a":{},"b":{}}}"#, u8x4(0, 4), u8x4(6, 10)), 10, "gap"),
        ("leading_gap.safetensors", format!(r#"{{"a":{}}}"#, u8x4(2, 6)), 6, "gap"),
        ("overlap.safetensors", format!(r#"{{"a":{},"b":{}}}"#, u8x4(0, 4), u8x4(2, 6)), 6, "overlap"),
        ("aliasing.safetensors", format!(r#"{{"a":{},"b":{}}}"#, u8x4(0, 4), u8x4(0, 4)), 4, "alias"),
        ("trailing_bytes.safetensors", format!(r#"{{"a":{}}}"#, u8x4(0, 4)), 9, "trailing bytes"),
        ("only_trailing_bytes.safetensors", "{}".into(), 3, "trailing bytes"),
        ("offsets_past_end.safetensors", format!(r#"{{"a":{}}}"#, u8x4(0, 4)), 2, "past the end"),
        ("huge_offsets_past_end.safetensors", format!(r#"{{"a":{}}}"#, entry("U8", "[1099511627776]", 0, 1099511627776)), 16, "past the end"),
        ("f4_odd_count.safetensors", format!(r#"{{"a":{}}}"#, entry("F4", "[3]", 0, 1)), 1, "whole number of bytes"),
        ("f6_odd_count.safetensors", format!(r#"{{"a":{}}}"#, entry("F6_E2M3", "[3]", 0, 2)), 2, "whole number of bytes"),
        ("deep_nesting.safetensors", format!(r#"{{"__metadata__":{{"k":{}}}}}"#, "[".repeat(100_000)), 0, "'__metadata__'"),
        ("deep_nesting_shape.safetensors", format!(r#"{{"a":{{"shape":{}}}}}"#, "[".repeat(100_000)), 0, "non-negative integers"),
    ]
}

#[test]
fn hostile_headers_are_rejected() {
    let dir = mlxport_testkit::tempdir();
    for (name, header, buffer_len, rule) in header_cases() {
        let p = st(dir.path(), name, &header, &vec![0u8; buffer_len]);
        assert_rejected(&p, SafetensorsFile::open, rule);
    }
}

#[test]
fn hostile_framing_is_rejected() {
    let dir = mlxport_testkit::tempdir();
    let d = dir.path();
    assert_rejected(&raw(d, "empty.safetensors", b""), SafetensorsFile::open, "too short");
    assert_rejected(&raw(d, "truncated_length.safetensors", &[8, 0, 0, 0, 0]), SafetensorsFile::open, "too short");
    let mut past = 1000u64.to_le_bytes().to_vec();
    past.extend_from_slice(b"{}");
    assert_rejected(&raw(d, "length_past_end.safetensors", &past), SafetensorsFile::open, "runs past the end");
    let mut huge = 200_000_000u64.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert_rejected(&raw(d, "length_over_limit.safetensors", &huge), SafetensorsFile::open, "exceeds the limit");
    let max = u64::MAX.to_le_bytes();
    assert_rejected(&raw(d, "length_u64_max.safetensors", &max), SafetensorsFile::open, "exceeds the limit");
    let p = st_bytes(d, "bad_utf8.safetensors", b"{\"\xff\xfe\":{}}", b"");
    assert_rejected(&p, SafetensorsFile::open, "not valid UTF-8");
    let p = st_bytes(d, "empty_header.safetensors", b"", b"");
    assert_rejected(&p, SafetensorsFile::open, "JSON object");
    let p = st(d, "leading_space.safetensors", " {}", b"");
    assert_rejected(&p, SafetensorsFile::open, "starting with '{'");
}

/// A valid two-shard checkpoint's shards, written by hand.
fn shards(dir: &Path) {
    st(dir, "s1.safetensors", &format!(r#"{{"a":{},"b":{}}}"#, entry("U8", "[2]", 0, 2), entry("F32", "[1]", 2, 6)), &[1; 6]);
    st(dir, "s2.safetensors", &format!(r#"{{"c":{}}}"#, entry("I16", "[2]", 0, 4)), &[2; 4]);
}

fn index(dir: &Path, name: &str, text: &str) -> PathBuf {
    raw(dir, name, text.as_bytes())
}

const GOOD_MAP: &str = r#""a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors""#;

#[test]
fn hostile_indexes_are_rejected() {
    let dir = mlxport_testkit::tempdir();
    let d = dir.path();
    shards(d);
    // The valid index opens.
    let ok = index(d, "ok.safetensors.index.json", &format!(r#"{{"metadata":{{"total_size":10}},"weight_map":{{{GOOD_MAP}}}}}"#));
    let src = ShardedSafetensors::open(&ok).unwrap();
    assert_eq!(mlxport_tensor::TensorSource::tensors(&src).len(), 3);

    let cases: Vec<(&str, String, &str)> = vec![
        ("dotdot.safetensors.index.json", r#"{"weight_map":{"a":"../s1.safetensors"}}"#.into(), "plain file name"),
        ("absolute.safetensors.index.json", r#"{"weight_map":{"a":"/etc/passwd"}}"#.into(), "plain file name"),
        ("subdir.safetensors.index.json", r#"{"weight_map":{"a":"sub/s1.safetensors"}}"#.into(), "plain file name"),
        ("backslash.safetensors.index.json", r#"{"weight_map":{"a":"..\\s1.safetensors"}}"#.into(), "plain file name"),
        ("missing_shard.safetensors.index.json", r#"{"weight_map":{"a":"nope.safetensors"}}"#.into(), "not a file"),
        ("shard_missing_tensor.safetensors.index.json", format!(r#"{{"weight_map":{{{GOOD_MAP},"z":"s2.safetensors"}}}}"#), "has no such tensor"),
        ("unlisted_tensor.safetensors.index.json", r#"{"weight_map":{"a":"s1.safetensors","c":"s2.safetensors"}}"#.into(), "not listed"),
        (
            "wrong_shard.safetensors.index.json",
            r#"{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"}}"#.into(),
            "stored in s1.safetensors",
        ),
        ("total_size_wrong.safetensors.index.json", format!(r#"{{"metadata":{{"total_size":11}},"weight_map":{{{GOOD_MAP}}}}}"#), "total_size is 11"),
        (
            "total_size_string.safetensors.index.json",
            format!(r#"{{"metadata":{{"total_size":"10"}},"weight_map":{{{GOOD_MAP}}}}}"#),
            "not a non-negative integer",
        ),
        ("duplicate_weight.safetensors.index.json", format!(r#"{{"weight_map":{{{GOOD_MAP},"a":"s2.safetensors"}}}}"#), "duplicate key 'a'"),
        ("no_weight_map.safetensors.index.json", r#"{"metadata":{}}"#.into(), "missing key 'weight_map'"),
        ("bad_json.safetensors.index.json", r#"{"weight_map":"#.into(), "index JSON"),
        ("bad_value.safetensors.index.json", r#"{"weight_map":{"a":1}}"#.into(), "index JSON"),
        ("deep_extra.safetensors.index.json", format!(r#"{{"x":{}"#, "[".repeat(100_000)), "index JSON"),
        ("deep_metadata.safetensors.index.json", format!(r#"{{"metadata":{{"k":{}"#, "[".repeat(100_000)), "recursion limit"),
    ];
    for (name, text, rule) in cases {
        let p = index(d, name, &text);
        assert_rejected(&p, ShardedSafetensors::open, rule);
    }

    // The same tensor stored in two shards.
    st(d, "s3.safetensors", &format!(r#"{{"c":{}}}"#, entry("I16", "[2]", 0, 4)), &[3; 4]);
    let p = index(
        d,
        "two_shards.safetensors.index.json",
        r#"{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","x":"s3.safetensors"}}"#,
    );
    assert_rejected(&p, ShardedSafetensors::open, "two shards");

    // A broken shard is reported by its own name.
    st(d, "broken.safetensors", &format!(r#"{{"q":{}}}"#, entry("U8", "[2]", 0, 2)), &[0; 3]);
    let p = index(d, "broken_shard.safetensors.index.json", r#"{"weight_map":{"q":"broken.safetensors"}}"#);
    let err = ShardedSafetensors::open(&p).unwrap_err().to_string();
    assert!(err.contains("broken.safetensors") && err.contains("trailing bytes"), "{err}");
}
