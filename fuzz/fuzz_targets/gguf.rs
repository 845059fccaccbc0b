//! Fuzz the gguf reader: any bytes must give Ok or a clean Err — no panic,
//! no hang, no unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlxport_tensor::gguf::GgufFile;
use mlxport_tensor::TensorSource;

fuzz_target!(|data: &[u8]| {
    // The readers take paths (they memory-map); give each input a file.
    let dir = std::env::temp_dir().join(format!("mlxport-fuzz-gguf-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.bin");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(src) = GgufFile::open(&path) {
        for t in src.tensors().to_vec() {
            let _ = src.raw(&t.name);
            let _ = src.read_f32(&t.name);
        }
    }
});
