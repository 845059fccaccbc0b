//! Identity and hostile directories: SHA-256 and the tree fingerprint, the
//! digest cache, a file growing while it is hashed, symlink escapes and
//! loops, FIFOs, 100k files, deep nesting, Hugging Face cache snapshots and
//! malformed tensor files dropped into a model. Each attack must end with a
//! clear report in bounded time and memory, never a crash or a hang.
//!
//! The tests of this binary run one at a time (they share the heap counter).

mod inspect_support;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use inspect_support::*;
use mlxport_intake::digest::sha256_file;
use mlxport_intake::inspect::{inspect, Inspection, Options};
use mlxport_intake::risks::Severity;
use mlxport_intake::walk::Limits;
use mlxport_testkit::alloc::{peak_during, Counting};
use serde_json::json;

// ---------------------------------------------------------------------------
// Heap accounting and serial execution.

#[global_allocator]
static ALLOC: Counting = Counting;

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run `f`, returning its result, the wall time and the peak heap growth.
fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    let t = Instant::now();
    let (out, peak) = peak_during(f);
    (out, t.elapsed(), peak)
}

/// Inspect in a worker thread; a hang beyond `limit` fails the test (the
/// worker is abandoned).
fn inspect_within(path: &Path, o: Options, limit: Duration) -> Inspection {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(inspect(&p, &o).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r.unwrap_or_else(|e| panic!("inspect failed: {e}")),
        Err(_) => panic!("inspect of {} did not finish within {limit:?}", path.display()),
    }
}

const MAX_HEAP: usize = 64 << 20;

// ---------------------------------------------------------------------------
// Identity

#[test]
fn fingerprint_is_stable_and_one_byte_changes_it() {
    let _s = serial();
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    std::fs::write(d.join("empty.txt"), b"").unwrap();
    let a = run(&d);
    let b = run(&d);
    assert_eq!(a.model.fingerprint, b.model.fingerprint);
    assert!(a.complete);
    let empty = a.files.iter().find(|f| f.path == "empty.txt").unwrap();
    assert_eq!(empty.sha256.as_deref(), Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

    // Flip one byte of tensor data (same size, same tensors).
    let st = d.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&st, &bytes).unwrap();
    let c = run(&d);
    assert_ne!(c.model.fingerprint, a.model.fingerprint);
    let sha = |i: &Inspection, p: &str| i.files.iter().find(|f| f.path == p).unwrap().sha256.clone();
    assert_ne!(sha(&c, "model.safetensors"), sha(&a, "model.safetensors"));
    assert_eq!(sha(&c, "config.json"), sha(&a, "config.json"));

    // A rename changes it too (paths are part of the tree).
    std::fs::rename(d.join("empty.txt"), d.join("empty2.txt")).unwrap();
    assert_ne!(run(&d).model.fingerprint, c.model.fingerprint);
}

#[test]
fn digest_cache_rehashes_nothing_unchanged() {
    let _s = serial();
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    std::fs::write(d.join("README.md"), "---\nlicense: mit\n---\n").unwrap();
    let o = Options { digest_cache: Some(root.path().join("cache/digests.json")), ..opts() };
    let first = inspect(&d, &o).unwrap();
    assert_eq!(first.model.bytes_hashed, first.model.bytes);
    assert_eq!(first.model.cache_hits, 0);
    assert!(root.path().join("cache/digests.json").exists());

    let second = inspect(&d, &o).unwrap();
    assert_eq!(second.model.bytes_hashed, 0, "a warm re-run hashes nothing");
    assert_eq!(second.model.cache_hits, second.model.files);
    assert_eq!(second.model.fingerprint, first.model.fingerprint);
    let shas = |i: &Inspection| i.files.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>();
    assert_eq!(shas(&second), shas(&first));

    // Change one file (size and mtime): only it is hashed again.
    std::fs::OpenOptions::new().append(true).open(d.join("README.md")).unwrap().write_all(b"more\n").unwrap();
    let third = inspect(&d, &o).unwrap();
    let readme = std::fs::metadata(d.join("README.md")).unwrap().len();
    assert_eq!(third.model.bytes_hashed, readme);
    assert_eq!(third.model.cache_hits, third.model.files - 1);
    assert_ne!(third.model.fingerprint, first.model.fingerprint);
}

/// Append to `path` until the returned flag is set.
fn grow(path: &Path) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let p = path.to_path_buf();
    let h = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let mut n = 0;
        while !s.load(Ordering::Relaxed) {
            f.write_all(&[7u8; 512]).unwrap();
            n += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        n
    });
    (stop, h)
}

#[test]
fn a_file_growing_while_hashed_is_detected() {
    let _s = serial();
    let root = tempdir();
    let big = root.path().join("big.log");
    std::fs::write(&big, vec![1u8; 96 << 20]).unwrap();
    let (stop, h) = grow(&big);
    std::thread::sleep(Duration::from_millis(5));
    let r = sha256_file(&big);
    stop.store(true, Ordering::Relaxed);
    assert!(h.join().unwrap() > 0);
    let err = r.expect_err("a growing file must not get a digest");
    assert!(matches!(&err, mlxport_intake::Error::Invalid { path, .. } if *path == big), "{err:?}");
    assert!(err.to_string().contains("changed while it was being read"), "{err}");

    // Through inspect: a blocker naming the file; the report is incomplete.
    let d = root.path().join("m");
    llama_dir(&d);
    std::fs::write(d.join("train.log"), vec![1u8; 96 << 20]).unwrap();
    let (stop, h) = grow(&d.join("train.log"));
    std::thread::sleep(Duration::from_millis(5));
    let i = inspect_within(&d, opts(), Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let b = finding(&i, "unreadable-file");
    assert_eq!(b.severity, Severity::Blocker);
    assert_eq!(b.path.as_deref(), Some("train.log"));
    assert!(b.message.contains("changed"), "{}", b.message);
    assert!(b.remediation.is_some());
    assert!(!i.complete);
    assert!(i.files.iter().find(|f| f.path == "train.log").unwrap().sha256.is_none());
}

// ---------------------------------------------------------------------------
// Directory attacks

#[test]
fn symlinks_escaping_or_looping_are_not_followed() {
    let _s = serial();
    let root = tempdir();
    let outside = root.path().join("outside");
    llama_dir(&outside);
    let d = root.path().join("m");
    llama_dir(&d);
    std::os::unix::fs::symlink(outside.join("model.safetensors"), d.join("extra.safetensors")).unwrap();
    std::os::unix::fs::symlink("../outside", d.join("outside-dir")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.join("passwd.txt")).unwrap();
    std::os::unix::fs::symlink("loop-b", d.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", d.join("loop-b")).unwrap();
    std::os::unix::fs::symlink(".", d.join("self")).unwrap();
    std::os::unix::fs::symlink("..", d.join("parent")).unwrap();
    let (i, t, heap) = measured(|| inspect_within(&d, opts(), Duration::from_secs(30)));
    assert!(t < Duration::from_secs(10) && heap < MAX_HEAP, "{t:?} {heap}");
    let links: Vec<(&str, &str)> = i.warnings.iter().filter(|f| f.id == "symlink").map(|f| (f.path.as_deref().unwrap(), f.message.as_str())).collect();
    let names: Vec<&str> = links.iter().map(|l| l.0).collect();
    assert_eq!(names, ["extra.safetensors", "loop-a", "loop-b", "outside-dir", "parent", "passwd.txt", "self"], "{}", summary(&i));
    assert!(links[0].1.contains("escapes"), "{links:?}");
    for f in i.files.iter().filter(|f| names.contains(&f.path.as_str())) {
        assert_eq!(f.kind, "symlink");
        assert!(f.sha256.is_none(), "{} was read", f.path);
    }
    // Only the model's own files were read and counted.
    assert_eq!(i.tensors.files.len(), 1);
    assert_eq!(i.model.bytes_hashed, ["config.json", "model.safetensors"].iter().map(|f| std::fs::metadata(d.join(f)).unwrap().len()).sum::<u64>());
    assert!(i.blockers.is_empty(), "{}", summary(&i));
}

#[test]
fn fifos_are_listed_never_opened() {
    let _s = serial();
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    // FIFOs under the names inspect would read: nothing may open them.
    std::fs::remove_file(d.join("config.json")).unwrap();
    for name in ["config.json", "README.md", "LICENSE", "pipe", "optimizer.pt"] {
        let st = std::process::Command::new("mkfifo").arg(d.join(name)).status().expect("mkfifo");
        assert!(st.success());
    }
    let i = inspect_within(&d, opts(), Duration::from_secs(20));
    let special: Vec<&str> = i.warnings.iter().filter(|f| f.id == "special-file").filter_map(|f| f.path.as_deref()).collect();
    assert_eq!(special, ["LICENSE", "README.md", "config.json", "optimizer.pt", "pipe"], "{}", summary(&i));
    assert!(i.files.iter().filter(|f| f.kind == "fifo").all(|f| f.sha256.is_none()));
    assert!(i.configs.is_empty());
    // The safetensors weights are still read.
    assert_eq!(i.tensors.tensors, 5);
}

#[test]
fn a_hundred_thousand_files_in_bounded_time_and_memory() {
    let _s = serial();
    // Creating 100k files on a busy disk can take most of a minute; a
    // memory file system (when there is one) keeps the test about the walk.
    let root = tempfile::Builder::new().prefix("mlxport-many").tempdir_in("/dev/shm").unwrap_or_else(|_| tempdir());
    let d = root.path().join("many");
    llama_dir(&d);
    let made = Instant::now();
    for j in 0..100 {
        let sub = d.join(format!("shard{j:03}"));
        std::fs::create_dir(&sub).unwrap();
        for k in 0..1000 {
            std::fs::File::create(sub.join(format!("f{k:04}.txt"))).unwrap();
        }
    }
    eprintln!("created 100k files in {:?}", made.elapsed());

    let (i, t, heap) = measured(|| inspect_within(&d, opts(), Duration::from_secs(120)));
    eprintln!("inspected 100k files in {t:?}, peak heap {} MiB", heap >> 20);
    assert!(t < Duration::from_secs(60), "{t:?}");
    assert!(heap < 512 << 20, "peak heap {heap}");
    assert_eq!(i.model.files, 100_002);
    assert_eq!(i.files.len(), 100_002);
    assert!(i.complete && i.blockers.is_empty(), "{}", summary(&i));
    assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"));

    // Over the limit: the too-many-files blocker, an incomplete report.
    let o = Options { limits: Limits { max_entries: 10_000, ..Limits::default() }, ..opts() };
    let (i, t, _) = measured(|| inspect_within(&d, o, Duration::from_secs(60)));
    assert!(t < Duration::from_secs(30), "{t:?}");
    let b = finding(&i, "too-many-files");
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.remediation.is_some());
    assert!(!i.complete);
    assert_eq!(i.model.files, 10_000);
}

#[test]
fn nesting_deeper_than_the_limit_is_reported() {
    let _s = serial();
    let root = tempdir();
    let d = root.path().join("deep");
    llama_dir(&d);
    let mut p = d.clone();
    for k in 0..100 {
        p = p.join(format!("d{k}"));
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("bottom.txt"), b"x").unwrap();
    std::fs::write(d.join("d0/d1/d2/shallow.txt"), b"y").unwrap();
    let (i, t, heap) = measured(|| inspect_within(&d, opts(), Duration::from_secs(30)));
    assert!(t < Duration::from_secs(10) && heap < MAX_HEAP, "{t:?} {heap}");
    let deep = i.warnings.iter().find(|f| f.id == "walk" && f.message.contains("deeper")).unwrap_or_else(|| panic!("{}", summary(&i)));
    assert!(deep.path.as_deref().unwrap().starts_with("d0/d1/"));
    assert!(i.files.iter().any(|f| f.path == "d0/d1/d2/shallow.txt"));
    assert!(!i.files.iter().any(|f| f.path.ends_with("bottom.txt")));

    let o = Options { limits: Limits { max_depth: 2, ..Limits::default() }, ..opts() };
    let i = inspect(&d, &o).unwrap();
    assert!(!i.files.iter().any(|f| f.path == "d0/d1/d2/shallow.txt"));
    assert!(i.warnings.iter().any(|f| f.id == "walk" && f.message.contains("deeper than 2")));
}

#[test]
fn hf_cache_snapshot_links_are_followed_only_into_blobs() {
    let _s = serial();
    let root = tempdir();
    let src = root.path().join("src");
    llama_dir(&src);
    std::fs::write(src.join("README.md"), "---\nlicense: apache-2.0\n---\n").unwrap();
    let repo = root.path().join("hub/models--acme--tiny-llama");
    let blobs = repo.join("blobs");
    let snap = repo.join("snapshots/0123456789abcdef0123456789abcdef01234567");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123456789abcdef0123456789abcdef01234567").unwrap();
    let mut shas = std::collections::BTreeMap::new();
    for name in ["config.json", "model.safetensors", "README.md"] {
        let (sha, _) = sha256_file(&src.join(name)).unwrap();
        std::fs::copy(src.join(name), blobs.join(&sha)).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{sha}"), snap.join(name)).unwrap();
        shas.insert(name, sha);
    }
    // Links that leave the cache's blobs are not followed.
    std::fs::write(root.path().join("secret.txt"), "not part of the model").unwrap();
    std::os::unix::fs::symlink("../../../../secret.txt", snap.join("tokenizer.json")).unwrap();
    std::os::unix::fs::symlink("../../refs/main", snap.join("notes.txt")).unwrap();

    let i = inspect_within(&snap, opts(), Duration::from_secs(30));
    assert_eq!(i.model.kind, "hf-cache-snapshot");
    assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"), "{}", summary(&i));
    assert_eq!(i.license.spdx.as_deref(), Some("apache-2.0"));
    for (name, sha) in &shas {
        let f = i.files.iter().find(|f| f.path == *name).unwrap();
        assert_eq!(f.kind, "cache_link", "{name}");
        assert_eq!(f.sha256.as_deref(), Some(sha.as_str()), "{name}: the digest is the blob's name");
        assert_eq!(f.size, std::fs::metadata(blobs.join(sha)).unwrap().len());
    }
    let refused: Vec<&str> = i.warnings.iter().filter(|f| f.id == "symlink").filter_map(|f| f.path.as_deref()).collect();
    assert_eq!(refused, ["notes.txt", "tokenizer.json"], "{}", summary(&i));
    assert!(i.warnings.iter().filter(|f| f.id == "symlink").all(|f| f.message.contains("blobs")));
    assert!(i.files.iter().find(|f| f.path == "tokenizer.json").unwrap().sha256.is_none());
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    let (js, _) = renders(&i);
    assert!(!js.contains("not part of the model"));
}

#[test]
fn hostile_tensor_files_give_invalid_weights_never_a_crash() {
    let _s = serial();
    let root = tempdir();
    let mut deep = b"\x00\x00\x01\x00\x00\x00\x00\x00".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 65536));
    let mut huge_tensor = Vec::new();
    let header = br#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#;
    huge_tensor.extend((header.len() as u64).to_le_bytes());
    huge_tensor.extend(header);
    huge_tensor.extend([0u8; 16]);
    let mut overlap = Vec::new();
    let header = br#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    overlap.extend((header.len() as u64).to_le_bytes());
    overlap.extend(header);
    overlap.extend([0u8; 24]);
    let mut gguf_many = b"GGUF".to_vec();
    gguf_many.extend(3u32.to_le_bytes());
    gguf_many.extend((1u64 << 60).to_le_bytes());
    gguf_many.extend(0u64.to_le_bytes());
    let mut gguf_kv = b"GGUF".to_vec();
    gguf_kv.extend(3u32.to_le_bytes());
    gguf_kv.extend(0u64.to_le_bytes());
    gguf_kv.extend(1u64.to_le_bytes());
    gguf_kv.extend((u64::MAX).to_le_bytes());
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("truncated", "model.safetensors", {
            let d = tempdir();
            llama_dir(d.path());
            let b = std::fs::read(d.path().join("model.safetensors")).unwrap();
            b[..b.len() - 9].to_vec()
        }),
        ("header-length-overflow", "model.safetensors", [u64::MAX.to_le_bytes().as_slice(), b"{}"].concat()),
        ("deep-header", "model.safetensors", deep),
        ("huge-shape", "model.safetensors", huge_tensor),
        ("overlapping", "model.safetensors", overlap),
        ("gguf-tensor-count", "model.gguf", gguf_many),
        ("gguf-string-length", "model.gguf", gguf_kv),
        ("zip-garbage", "pytorch_model.bin", b"PK\x03\x04garbage that is not a zip".to_vec()),
        ("empty", "model.safetensors", vec![]),
    ];
    for (name, file, bytes) in cases {
        let d = root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        write_json(&d.join("config.json"), &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}));
        std::fs::write(d.join(file), &bytes).unwrap();
        let (r, t, heap) = measured(|| std::panic::catch_unwind(|| inspect(&d, &opts())));
        let i = r.unwrap_or_else(|_| panic!("{name}: inspect panicked")).unwrap();
        assert!(t < Duration::from_secs(10), "{name}: {t:?}");
        assert!(heap < MAX_HEAP, "{name}: peak heap {heap}");
        let b = i.blockers.iter().find(|f| f.id == "invalid-weights").unwrap_or_else(|| panic!("{name}: {}", summary(&i)));
        assert_eq!(b.path.as_deref(), Some(file), "{name}");
        assert!(b.message.starts_with(file), "{name}: the error names the file: {}", b.message);
        assert!(b.remediation.is_some());
        assert_eq!(i.tensors.parameters, 0, "{name}");
        // Still routed from the config.
        assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"), "{name}");
    }
}
