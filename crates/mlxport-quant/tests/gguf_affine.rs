//! GGUF Q4_0 / Q4_1 / Q8_0 tensors repacked as MLX affine equal what
//! `mx.load` gives for the same file, bit for bit (codes, scales and
//! biases, extreme float16 scales included).

use std::path::Path;

use mlxport_testkit::Py;

use mlxport_quant::from_gguf_blocks;
use mlxport_tensor::gguf::GgufFile;

#[test]
fn gguf_blocks_repack_as_mx_load_gives_them() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/gguf_affine.py");
    Py::script(&py, &script).arg(d).stdout();
    let names: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(d.join("names.json")).unwrap()).unwrap();
    let file = GgufFile::open(&d.join("q.gguf")).unwrap();
    let mut checked = 0;
    for (name, shape) in &names {
        let shape: Vec<usize> = serde_json::from_value(shape.clone()).unwrap();
        let base = name.strip_suffix(".weight").unwrap();
        let blocks = file.affine_blocks(name).unwrap();
        let (q, p) = from_gguf_blocks(&blocks, &shape).unwrap();
        let read = |s: &str| std::fs::read(d.join(format!("{base}.{s}"))).unwrap();
        assert_eq!(q.wq_bytes(), read("w").as_slice(), "{name} ({}): w_q", blocks.ty);
        assert_eq!(q.scales, read("s"), "{name} ({}): scales", blocks.ty);
        assert_eq!(q.biases.as_ref().unwrap(), &read("b"), "{name} ({}): biases", blocks.ty);
        assert_eq!((p.bits, p.group_size), (if blocks.ty == "Q8_0" { 8 } else { 4 }, 32));
        checked += 1;
    }
    assert_eq!(checked, 24);
}

#[test]
fn q5_blocks_are_refused() {
    let b = mlxport_tensor::gguf::dequant::AffineBlocks {
        ty: "Q5_0",
        block_size: 32,
        bits: 5,
        codes: vec![0; 32],
        scales: vec![half::f16::ONE],
        mins: None,
        zero_point: 16,
    };
    let e = from_gguf_blocks(&b, &[1, 32]).unwrap_err();
    assert!(e.to_string().contains("Q5_0"), "{e}");
}
