//! safetensors: a validating zero-copy reader, sharded checkpoints, and a
//! deterministic, streaming writer.
//!
//! A safetensors file is an 8-byte little-endian header length `N`, `N`
//! bytes of UTF-8 JSON, then the data buffer. The JSON maps each tensor name
//! to `{"dtype", "shape", "data_offsets": [begin, end)}` (offsets relative
//! to the buffer), plus an optional `__metadata__` object of strings.
//!
//! [`SafetensorsFile::open`] checks everything before handing out a byte:
//! `N` at most 100,000,000 and within the file; valid UTF-8 and JSON; an
//! object whose keys are unique and free of NUL bytes; `__metadata__` only
//! as a string map; exactly `dtype`, `shape` and `data_offsets` per tensor;
//! a known dtype; non-negative dimensions whose product (and byte size)
//! does not overflow and is a whole number of bytes; each span exactly the
//! tensor's size; and spans that tile the buffer exactly — no gap, overlap,
//! aliasing or trailing bytes. Tensor bytes are then borrowed from a memory
//! map, with no alignment requirement.
//!
//! [`ShardedSafetensors::open`] reads a `*.safetensors.index.json` and its
//! shards and cross-checks them. The writers ([`write_safetensors`],
//! [`write_safetensors_with`], [`write_sharded_with`]) give byte-identical
//! output for identical input and write atomically.

mod header;
mod reader;
mod sharded;
mod writer;

pub use header::{MAX_HEADER_LEN, MAX_RANK, METADATA_KEY};
pub use reader::SafetensorsFile;
pub use sharded::{read_index, Index, ShardedSafetensors, MAX_INDEX_LEN};
pub use writer::{
    header_bytes, index_json, plan_shards, shard_file_names, write_safetensors, write_safetensors_opts, write_safetensors_with, write_sharded,
    write_sharded_with, ShardOptions, ShardedOutput, TensorRef, TensorSpec, WriteOptions, INDEX_FILE,
};

/// Format name used in error messages.
const FORMAT: &str = "safetensors";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::dtype::DType;
    use crate::source::TensorSource;

    const DTYPES: [DType; 14] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::F8E4M3,
    ];

    /// (name, dtype, shape, bytes)
    type Owned = (String, DType, Vec<u64>, Vec<u8>);

    fn tensor_strategy() -> impl Strategy<Value = Owned> {
        ("[a-z.\\u{e9}\"\\\\]{1,8}", proptest::sample::select(&DTYPES[..]), proptest::collection::vec(0u64..4, 0..4), any::<u64>()).prop_map(
            |(name, dtype, shape, seed)| {
                let n = shape.iter().product::<u64>() * dtype.bits() / 8;
                let mut x = seed | 1;
                let bytes = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                (name, dtype, shape, bytes)
            },
        )
    }

    fn refs(ts: &[Owned]) -> Vec<TensorRef<'_>> {
        ts.iter().map(|(n, d, s, b)| TensorRef { name: n, dtype: *d, shape: s, data: b }).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn random_files_round_trip(
            ts in proptest::collection::btree_map("[a-z.\\u{e9}]{1,6}", tensor_strategy(), 0..6),
            meta in proptest::option::of(proptest::collection::btree_map("[a-z\"]{0,4}", "[ -~]{0,6}", 0..3)),
            pad in any::<bool>(),
        ) {
            let ts: Vec<Owned> = ts.into_iter().map(|(k, (_, d, s, b))| (k, d, s, b)).collect();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.safetensors");
            let opts = WriteOptions { pad_header: pad };
            let size = write_safetensors_opts(&path, &refs(&ts), meta.as_ref(), &opts).unwrap();
            prop_assert_eq!(size, std::fs::metadata(&path).unwrap().len());
            let f = SafetensorsFile::open(&path).unwrap();
            if pad {
                prop_assert_eq!(f.header_len() % 8, 0);
            }
            prop_assert_eq!(f.metadata(), &meta.clone().unwrap_or_default());
            prop_assert_eq!(f.tensors().len(), ts.len());
            for (n, d, s, b) in &ts {
                let info = f.info(n).unwrap();
                prop_assert_eq!(info.dtype(), Some(*d));
                prop_assert_eq!(&info.shape, s);
                prop_assert_eq!(&*f.raw(n).unwrap(), &b[..]);
            }
            // file order = sorted names
            let names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            prop_assert_eq!(names, sorted);
        }
    }

    fn sample_file() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.safetensors");
        let ts = [
            ("a".to_string(), DType::F32, vec![2, 2], vec![1u8; 16]),
            ("b".to_string(), DType::BF16, vec![3], vec![2u8; 6]),
            ("c".to_string(), DType::I8, vec![], vec![3u8; 1]),
        ];
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        write_safetensors(&path, &refs(&ts), Some(&meta)).unwrap();
        std::fs::read(&path).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Corrupted files never panic; whatever is accepted is consistent.
        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let mut bytes = sample_file();
            for (at, b) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            if let Some(c) = cut {
                bytes.truncate(c.index(bytes.len()));
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.safetensors");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(f) = SafetensorsFile::open(&path) {
                let mut total = 0u64;
                for t in f.tensors().to_vec() {
                    prop_assert_eq!(f.raw(&t.name).unwrap().len() as u64, t.nbytes);
                    let _ = f.read_f32(&t.name);
                    total += t.nbytes;
                }
                prop_assert_eq!(8 + f.header_len() + total, bytes.len() as u64);
            }
        }
    }

    #[test]
    fn header_layout_is_exact() {
        let specs = [TensorSpec::new("b", DType::F32, [2]), TensorSpec::new("a", DType::U8, [])];
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let h = header_bytes(&specs, Some(&meta), &WriteOptions::mlx()).unwrap();
        assert_eq!(
            String::from_utf8(h).unwrap(),
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#
        );
        let padded = header_bytes(&specs, None, &WriteOptions::default()).unwrap();
        assert_eq!(padded.len() % 8, 0);
        assert!(String::from_utf8(padded).unwrap().trim_end_matches(' ').ends_with('}'));
    }

    #[test]
    fn writer_rejects_bad_specs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.safetensors");
        let bad =
            |name: &str, dtype, shape: &[u64], data: &[u8]| write_safetensors(&p, &[TensorRef { name, dtype, shape, data }], None).unwrap_err().to_string();
        assert!(bad("__metadata__", DType::U8, &[1], &[0]).contains("may not be named"));
        assert!(bad("a\0b", DType::U8, &[1], &[0]).contains("NUL"));
        assert!(bad("a", DType::C128, &[1], &[0; 16]).contains("cannot be stored"));
        assert!(bad("a", DType::F4, &[3], &[0; 2]).contains("whole number of bytes"));
        assert!(bad("a", DType::U8, &[3], &[0; 2]).contains("2 bytes were supplied"));
        let t = TensorRef { name: "a", dtype: DType::U8, shape: &[], data: &[1] };
        assert!(write_safetensors(&p, &[t, t], None).unwrap_err().to_string().contains("twice"));
        // Failed writes leave nothing behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sharding_is_greedy_in_order() {
        let s = |n: u64| TensorSpec::new("t", DType::U8, [n]);
        let specs = [s(3), s(3), s(5), s(0), s(9), s(1)];
        assert_eq!(plan_shards(&specs, 6), vec![0..2, 2..4, 4..5, 5..6]);
        assert_eq!(plan_shards(&specs, 100), vec![0..6]);
        assert_eq!(shard_file_names(1), ["model.safetensors"]);
        assert_eq!(shard_file_names(3)[2], "model-00003-of-00003.safetensors");
    }

    #[test]
    fn index_json_matches_python_format() {
        let wm = BTreeMap::from([
            ("b".to_string(), "model-00002-of-00002.safetensors".to_string()),
            ("a\u{e9}\u{1f600}\x7f".to_string(), "model-00001-of-00002.safetensors".to_string()),
        ]);
        let extra = vec![("total_parameters".to_string(), serde_json::json!(7))];
        let s = index_json(12, &extra, &wm);
        let want = "{\n    \"metadata\": {\n        \"total_size\": 12,\n        \"total_parameters\": 7\n    },\n    \"weight_map\": {\n        \"a\\u00e9\\ud83d\\ude00\\u007f\": \"model-00001-of-00002.safetensors\",\n        \"b\": \"model-00002-of-00002.safetensors\"\n    }\n}";
        assert_eq!(s, want);
    }

    #[test]
    fn sharded_round_trip_and_cross_checks() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<Owned> = (0..5u8).map(|i| (format!("layer.{i}"), DType::U8, vec![u64::from(i) + 1], vec![i; usize::from(i) + 1])).collect();
        let opts = ShardOptions { max_shard_bytes: 4, metadata: Some(BTreeMap::from([("format".into(), "mlx".into())])), ..ShardOptions::default() };
        let out = write_sharded(dir.path(), &refs(&data), &opts).unwrap();
        assert_eq!(out.total_size, 15);
        assert_eq!(out.files.len(), 4);
        let s = ShardedSafetensors::open(&out.index_path).unwrap();
        assert_eq!(s.tensors().len(), 5);
        for (n, _, _, b) in &data {
            assert_eq!(&*s.raw(n).unwrap(), &b[..]);
        }
        assert!(s.metadata().contains(&("format".into(), "mlx".into())));
        // Point a tensor at the wrong shard.
        let text = std::fs::read_to_string(&out.index_path).unwrap();
        let bad = text.replacen("\"layer.0\": \"model-00001", "\"layer.0\": \"model-00002", 1);
        std::fs::write(&out.index_path, bad).unwrap();
        let e = ShardedSafetensors::open(&out.index_path).unwrap_err().to_string();
        assert!(e.contains("layer.0") && e.contains("stored in model-00001"), "{e}");
    }
}
