//! .npy and .npz against numpy, in both directions: files numpy writes read
//! here to the same bytes, and files written here load in numpy to the same
//! values (and, for .npy, are byte-identical to what numpy writes).

use std::borrow::Cow;
use std::path::Path;

use mlxport_tensor::npy::{write_npy, NpyFile};
use mlxport_tensor::npz::{write_npz, NpzArray, NpzFile};
use mlxport_tensor::{DType, TensorSource};

#[global_allocator]
static ALLOC: mlxport_testkit::alloc::Counting = mlxport_testkit::alloc::Counting;

/// Writes numpy test files into argv[1] and a manifest of
/// `file|tensor|descr_le|shape|expected_bytes_file` lines.
const MAKE_NPY: &str = r#"
import sys, os, io, json
import numpy as np
import numpy.lib.format as fmt
out = sys.argv[1]
rng = np.random.default_rng(7)
manifest = []
def expect(a):
    c = np.ascontiguousarray(a)
    return c.astype(c.dtype.newbyteorder('<')).tobytes()
def put(name, a, version=None, save=None):
    path = os.path.join(out, name + '.npy')
    if version is None:
        np.save(path, a)
    else:
        with open(path, 'wb') as f:
            fmt.write_array(f, a, version=version)
    with open(path + '.expect', 'wb') as f:
        f.write(expect(a))
    le = a.dtype.newbyteorder('<') if a.dtype.byteorder == '>' else a.dtype
    manifest.append({'file': name + '.npy', 'descr': le.str, 'shape': list(a.shape)})
def sample(dt, shape):
    dt = np.dtype(dt)
    n = int(np.prod(shape))
    if dt.kind == 'b':
        return (rng.integers(0, 2, n) == 1).reshape(shape)
    if dt.kind in 'ui':
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True).reshape(shape)
    if dt.kind == 'c':
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt).reshape(shape)
    return (rng.standard_normal(n) * 100).astype(dt).reshape(shape)
dtypes = ['?', 'u1', 'u2', 'u4', 'u8', 'i1', 'i2', 'i4', 'i8', 'f2', 'f4', 'f8', 'c8', 'c16']
for dt in dtypes:
    tag = np.dtype(dt).name
    put(tag + '_c', sample(dt, (3, 5)))
    put(tag + '_scalar', sample(dt, ()))
    put(tag + '_fortran', np.asfortranarray(sample(dt, (2, 3, 4))))
    if np.dtype(dt).itemsize > 1:
        put(tag + '_big', sample(dt, (4, 3)).astype(np.dtype(dt).newbyteorder('>')))
        put(tag + '_big_fortran', np.asfortranarray(sample(dt, (3, 2, 2)).astype(np.dtype(dt).newbyteorder('>'))))
put('zero_rows', sample('f4', (0, 3)))
put('zero_mid', sample('i2', (2, 0, 5)))
put('zero_1d', sample('f8', (0,)))
put('fortran_1d', np.asfortranarray(sample('f4', (7,))))
put('fortran_col', np.asfortranarray(sample('f4', (7, 1))))
put('v1', sample('f4', (2, 3)), version=(1, 0))
put('v2', sample('f4', (2, 3)), version=(2, 0))
put('v3', sample('i8', (3,)), version=(3, 0))
put('v3_big_fortran', np.asfortranarray(sample('>f8', (2, 3))), version=(3, 0))
put('many_dims', sample('u1', (1, 2) * 16))
with open(os.path.join(out, 'manifest.json'), 'w') as f:
    json.dump(manifest, f)
"#;

fn dtype_of_descr(descr: &str) -> DType {
    match descr {
        "|b1" => DType::Bool,
        "|u1" => DType::U8,
        "|i1" => DType::I8,
        "<u2" => DType::U16,
        "<i2" => DType::I16,
        "<u4" => DType::U32,
        "<i4" => DType::I32,
        "<u8" => DType::U64,
        "<i8" => DType::I64,
        "<f2" => DType::F16,
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<c8" => DType::C64,
        "<c16" => DType::C128,
        other => panic!("unexpected descr {other}"),
    }
}

#[test]
fn numpy_npy_files_read_to_the_same_bytes() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    mlxport_testkit::run_py(&py, MAKE_NPY, &[dir.path().to_str().unwrap()]);
    let manifest: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.len() > 60);
    for m in &manifest {
        let file = m["file"].as_str().unwrap();
        let path = dir.path().join(file);
        let src = NpyFile::open(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let t = &src.tensors()[0];
        assert_eq!(t.name, file.trim_end_matches(".npy"));
        assert_eq!(t.dtype(), Some(dtype_of_descr(m["descr"].as_str().unwrap())), "{file}");
        let shape: Vec<u64> = m["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(t.shape, shape, "{file}");
        let expected = std::fs::read(dir.path().join(format!("{file}.expect"))).unwrap();
        let raw = src.raw(&t.name).unwrap();
        assert_eq!(t.nbytes, expected.len() as u64, "{file}");
        assert!(raw.as_ref() == expected.as_slice(), "{file}: bytes differ from numpy's C-order little-endian bytes");
        let h = src.header();
        if !mlxport_tensor::npy::needs_conversion(h) {
            assert!(matches!(raw, Cow::Borrowed(_)), "{file}: expected a zero-copy read");
        }
        if t.dtype().unwrap().is_decodable() {
            assert_eq!(src.read_f32(&t.name).unwrap().len() as u64, t.numel(), "{file}");
        }
    }
    // The version-specific files really carry those versions.
    for (file, v) in [("v1.npy", (1, 0)), ("v2.npy", (2, 0)), ("v3.npy", (3, 0))] {
        assert_eq!(NpyFile::open(&dir.path().join(file)).unwrap().header().version, v);
    }
    // The generic entry point recognises .npy by its magic.
    let src = mlxport_tensor::open(&dir.path().join("float32_c.npy")).unwrap();
    assert_eq!(src.tensors()[0].shape, vec![3, 5]);
}

/// Deterministic bytes that are valid elements of `dtype`.
fn pattern(dtype: DType, numel: usize, seed: u64) -> Vec<u8> {
    let size = dtype.size().unwrap();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(numel * size);
    for _ in 0..numel * size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    if dtype == DType::Bool {
        out.iter_mut().for_each(|b| *b &= 1);
    }
    out
}

const NUMERIC: [DType; 14] = [
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
    DType::F32,
    DType::F64,
    DType::C64,
    DType::C128,
];

fn descr(dtype: DType) -> &'static str {
    mlxport_tensor::npy::descr_of(dtype).unwrap()
}

/// Checks each file listed in argv[2] (JSON): numpy loads it to the
/// expected dtype, shape, layout and C-order bytes, and `np.save` of the
/// same array gives the identical file.
const CHECK_NPY: &str = r#"
import sys, io, json, os
import numpy as np
d = sys.argv[1]
for m in json.load(open(sys.argv[2])):
    path = os.path.join(d, m['file'])
    a = np.load(path)
    assert a.dtype == np.dtype(m['descr']), (m, a.dtype)
    assert list(a.shape) == m['shape'], (m, a.shape)
    if m['fortran'] and sum(1 for s in a.shape if s > 1) > 1:
        assert np.isfortran(a), m
    expect = open(path + '.expect', 'rb').read()
    assert np.ascontiguousarray(a).tobytes() == expect, m
    ref = np.frombuffer(expect, dtype=m['descr']).reshape(m['shape'])
    if m['fortran'] and ref.ndim > 0:  # asfortranarray makes 0-d arrays 1-d
        ref = np.asfortranarray(ref)
    buf = io.BytesIO()
    np.save(buf, ref)
    assert buf.getvalue() == open(path, 'rb').read(), ('not byte-identical to np.save', m)
print('ok', len(json.load(open(sys.argv[2]))))
"#;

#[test]
fn npy_written_here_loads_in_numpy_and_matches_np_save() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let shapes: [&[u64]; 6] = [&[], &[5], &[3, 4], &[2, 3, 4], &[0, 3], &[4, 1, 3]];
    let mut manifest = Vec::new();
    let mut seed = 1;
    for dtype in NUMERIC {
        for (shape_no, shape) in shapes.iter().enumerate() {
            for fortran in [false, true] {
                seed += 1;
                let numel: u64 = shape.iter().product();
                let data = pattern(dtype, numel as usize, seed);
                let file = format!("{}_{}_{}.npy", dtype.name(), shape_no, if fortran { "f" } else { "c" });
                let path = dir.path().join(&file);
                write_npy(&path, dtype, shape, &data, fortran).unwrap();
                std::fs::write(dir.path().join(format!("{file}.expect")), &data).unwrap();
                // Our reader returns the same row-major bytes.
                assert_eq!(NpyFile::open(&path).unwrap().raw(file.trim_end_matches(".npy")).unwrap().as_ref(), &data[..]);
                manifest.push(serde_json::json!({"file": file, "descr": descr(dtype), "shape": shape, "fortran": fortran}));
            }
        }
    }
    // The most dimensions numpy allows.
    let wide: Vec<u64> = vec![1; 64];
    let path = dir.path().join("wide.npy");
    write_npy(&path, DType::U8, &wide, &[9], false).unwrap();
    std::fs::write(dir.path().join("wide.npy.expect"), [9]).unwrap();
    manifest.push(serde_json::json!({"file": "wide.npy", "descr": "|u1", "shape": wide, "fortran": false}));
    let list = dir.path().join("list.json");
    std::fs::write(&list, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = mlxport_testkit::run_py(&py, CHECK_NPY, &[dir.path().to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("ok {}", manifest.len()));
}

/// Writes stored and deflated npz archives (and a fully ZIP64 one, made by
/// Python's zipfile with its ZIP64 thresholds lowered) plus the expected
/// bytes of every array.
const MAKE_NPZ: &str = r#"
import sys, os, zipfile, json
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(11)
arrays = {
    'weight': rng.standard_normal((16, 8)).astype(np.float32),
    'layers/0/bias': rng.standard_normal((8,)).astype(np.float16),
    'ids': rng.integers(-1000, 1000, (5, 3)).astype(np.int64),
    'mask': rng.integers(0, 2, (4, 4)).astype(bool),
    'scalar': np.float64(3.25),
    'empty': np.zeros((0, 4), np.int32),
    'fortran': np.asfortranarray(rng.standard_normal((3, 4, 5))),
    'big': rng.standard_normal((6, 2)).astype('>f4'),
    'cplx': (rng.standard_normal(4) + 1j).astype(np.complex64),
    'zeros': np.zeros((256, 256), np.float32),
}
expect = {}
for k, a in arrays.items():
    c = np.ascontiguousarray(a)
    expect[k] = c.astype(c.dtype.newbyteorder('<')).tobytes().hex()
np.savez(os.path.join(out, 'stored.npz'), **arrays)
np.savez_compressed(os.path.join(out, 'deflated.npz'), **arrays)
zipfile.ZIP64_LIMIT = 1
zipfile.ZIP_FILECOUNT_LIMIT = 1
np.savez_compressed(os.path.join(out, 'zip64.npz'), **arrays)
with zipfile.ZipFile(os.path.join(out, 'zip64.npz')) as z:
    assert z.testzip() is None
raw = open(os.path.join(out, 'zip64.npz'), 'rb').read()
assert b'PK\x06\x06' in raw and b'PK\x06\x07' in raw, 'no ZIP64 end records'
loaded = np.load(os.path.join(out, 'zip64.npz'))
assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)
json.dump(expect, open(os.path.join(out, 'expect.json'), 'w'))
"#;

#[test]
fn numpy_npz_stored_deflated_and_zip64_read_to_the_same_bytes() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    mlxport_testkit::run_py(&py, MAKE_NPZ, &[dir.path().to_str().unwrap()]);
    let expect: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.path().join("expect.json")).unwrap()).unwrap();
    for file in ["stored.npz", "deflated.npz", "zip64.npz"] {
        let path = dir.path().join(file);
        let src = NpzFile::open(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let names: Vec<&str> = src.tensors().iter().map(|t| t.name.as_str()).collect();
        let want: Vec<&str> = expect.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, want, "{file}: tensor names in numpy's order");
        for (name, hex) in &expect {
            let raw = src.raw(name).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(Some(to_hex(&raw).as_str()), hex.as_str(), "{file}: {name}");
            let info = src.info(name).unwrap();
            assert_eq!(info.nbytes as usize, raw.len(), "{file}: {name}");
            if file == "stored.npz" && !matches!(name.as_str(), "fortran" | "big") {
                assert!(matches!(raw, Cow::Borrowed(_)), "{file}: {name}: expected zero-copy");
            }
        }
        assert_eq!(src.info("scalar").unwrap().shape, Vec::<u64>::new());
        assert_eq!(src.info("fortran").unwrap().shape, vec![3, 4, 5]);
        assert_eq!(src.read_f32("scalar").unwrap(), vec![3.25]);
    }
    // The generic entry point recognises the npz.
    let src = mlxport_tensor::open(&dir.path().join("deflated.npz")).unwrap();
    assert_eq!(src.tensors().len(), expect.len());
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const CHECK_NPZ: &str = r#"
import sys, json, zipfile
import numpy as np
path, spec = sys.argv[1], json.load(open(sys.argv[2]))
z = np.load(path)
assert z.files == [m['name'] for m in spec], (z.files, spec)
for m in spec:
    a = z[m['name']]
    assert a.dtype == np.dtype(m['descr']), m
    assert list(a.shape) == m['shape'], m
    assert a.tobytes() == bytes.fromhex(m['hex']), m['name']
with zipfile.ZipFile(path) as zf:
    assert zf.testzip() is None
    methods = {i.compress_type for i in zf.infolist()}
    assert methods == {zipfile.ZIP_DEFLATED if sys.argv[3] == '1' else zipfile.ZIP_STORED}, methods
print('ok')
"#;

#[test]
fn npz_written_here_loads_in_numpy() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let shapes: [&[u64]; 4] = [&[], &[7], &[3, 5], &[0, 2]];
    let mut owned = Vec::new();
    for (i, dtype) in NUMERIC.iter().enumerate() {
        let shape = shapes[i % shapes.len()];
        let numel: u64 = shape.iter().product();
        owned.push((format!("t{i}/{}", dtype.name().to_lowercase()), *dtype, shape, pattern(*dtype, numel as usize, i as u64 + 50)));
    }
    owned.push(("zeros".into(), DType::F32, &[64, 64][..], vec![0; 64 * 64 * 4]));
    let arrays: Vec<NpzArray> = owned.iter().map(|(n, d, s, b)| NpzArray { name: n, dtype: *d, shape: s, data: b }).collect();
    let spec: Vec<_> = owned.iter().map(|(n, d, s, b)| serde_json::json!({"name": n, "descr": descr(*d), "shape": s, "hex": to_hex(b)})).collect();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    for compressed in [false, true] {
        let path = dir.path().join(format!("ours_{compressed}.npz"));
        write_npz(&path, &arrays, compressed).unwrap();
        let flag = if compressed { "1" } else { "0" };
        let out = mlxport_testkit::run_py(&py, CHECK_NPZ, &[path.to_str().unwrap(), spec_path.to_str().unwrap(), flag]);
        assert_eq!(out.trim(), "ok");
        // Writing again gives the same bytes.
        let again = dir.path().join("again.npz");
        write_npz(&again, &arrays, compressed).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
        // And it reads back here.
        let src = NpzFile::open(&path).unwrap();
        for (n, _, _, b) in &owned {
            assert_eq!(src.raw(n).unwrap().as_ref(), &b[..]);
        }
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains(".tmp")).collect();
    assert!(leftovers.is_empty());
}

const MAKE_OBJECT: &str = r#"
import sys, os
import numpy as np
a = np.array([{'a': 1}, 'text', None], dtype=object)
np.save(os.path.join(sys.argv[1], 'object.npy'), a, allow_pickle=True)
np.savez(os.path.join(sys.argv[1], 'object.npz'), fine=np.arange(3), bad=a)
"#;

#[test]
fn object_arrays_written_by_numpy_are_refused() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    mlxport_testkit::run_py(&py, MAKE_OBJECT, &[dir.path().to_str().unwrap()]);
    let err = NpyFile::open(&dir.path().join("object.npy")).err().expect("object npy accepted").to_string();
    assert!(err.contains("object.npy") && err.contains("pickle") && err.contains("object"), "{err}");
    let err = NpzFile::open(&dir.path().join("object.npz")).err().expect("object npz accepted").to_string();
    assert!(err.contains("object.npz") && err.contains("bad.npy") && err.contains("pickle"), "{err}");
}

/// Listing a deflated archive inflates only the npy headers.
#[test]
fn listing_a_deflated_npz_reads_only_headers() {
    let dir = mlxport_testkit::tempdir();
    let data = pattern(DType::F32, 8 << 20, 3); // 32 MiB, incompressible
    let path = dir.path().join("big.npz");
    let arrays = [
        NpzArray { name: "a", dtype: DType::F32, shape: &[8 << 20], data: &data },
        NpzArray { name: "b", dtype: DType::F32, shape: &[4, 2 << 20], data: &data },
    ];
    write_npz(&path, &arrays, true).unwrap();
    let (src, peak) = mlxport_testkit::alloc::peak_during(|| NpzFile::open(&path).unwrap());
    assert_eq!(src.tensors().len(), 2);
    assert!(peak < 1 << 20, "listing allocated {peak} bytes");
    let (raw, peak) = mlxport_testkit::alloc::peak_during(|| src.raw("b").unwrap().len());
    assert_eq!(raw, data.len());
    assert!(peak < data.len() + (2 << 20), "reading one member allocated {peak} bytes");
}

#[test]
fn wrong_sizes_and_dtypes_are_refused_by_the_writers() {
    let dir = mlxport_testkit::tempdir();
    let p = dir.path().join("x.npy");
    let e = write_npy(&p, DType::F32, &[3], &[0; 8], false).unwrap_err().to_string();
    assert!(e.contains("needs 12 bytes"), "{e}");
    let e = write_npy(&p, DType::BF16, &[1], &[0; 2], false).unwrap_err().to_string();
    assert!(e.contains("numpy has no dtype"), "{e}");
    assert!(!p.exists());
    let z = dir.path().join("x.npz");
    let bad = [NpzArray { name: "../up", dtype: DType::U8, shape: &[1], data: &[1] }];
    let e = write_npz(&z, &bad, false).unwrap_err().to_string();
    assert!(e.contains(".."), "{e}");
    assert!(!z.exists());
    assert!(!Path::new(&z).exists());
}
