//! `TensorSource::chunks`: every reader hands out the same bytes as `raw`,
//! in pieces of the asked size; npz members are checked (size, CRC-32) as
//! they are read, and a corrupt member fails before its last piece is out.

use mlxport_tensor::npz::{write_npz, NpzArray};
use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::stream::ChunkRead;
use mlxport_tensor::{open, DType, TensorSource};

fn drain(r: &mut dyn ChunkRead, piece: usize) -> mlxport_tensor::Result<Vec<u8>> {
    let mut out = Vec::new();
    let total = r.len();
    loop {
        let before = r.remaining();
        let c = r.next_chunk(piece)?;
        if c.is_empty() {
            break;
        }
        assert_eq!(c.len() as u64, (piece as u64).min(before), "pieces are exactly the asked size");
        out.extend_from_slice(c);
    }
    assert_eq!(out.len() as u64, total);
    Ok(out)
}

fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Some runs of zeros so deflate has something to do.
            if x.is_multiple_of(7) {
                0
            } else {
                x as u8
            }
        })
        .collect()
}

fn check_source(src: &dyn TensorSource) {
    for t in src.tensors() {
        let raw = src.raw(&t.name).unwrap().into_owned();
        for piece in [1usize, 7, 4096, 1 << 20, usize::MAX / 2] {
            if piece == 1 && raw.len() > 100_000 {
                continue;
            }
            let mut r = src.chunks(&t.name).unwrap();
            assert_eq!(drain(r.as_mut(), piece).unwrap(), raw, "{} piece {piece}", t.name);
        }
    }
}

#[test]
fn every_reader_streams_the_same_bytes_as_raw() {
    let dir = mlxport_testkit::tempdir();
    let a = data(3_000_004, 1);
    let b = data(12, 2);
    let st = dir.path().join("m.safetensors");
    write_safetensors(
        &st,
        &[
            TensorRef { name: "a", dtype: DType::F32, shape: &[750_001], data: &a },
            TensorRef { name: "b", dtype: DType::I16, shape: &[2, 3], data: &b },
            TensorRef { name: "empty", dtype: DType::F32, shape: &[0], data: &[] },
        ],
        None,
    )
    .unwrap();
    check_source(open(&st).unwrap().as_ref());
    for compressed in [false, true] {
        let p = dir.path().join(format!("m{compressed}.npz"));
        let arrays = [
            NpzArray { name: "a", dtype: DType::F32, shape: &[750_001], data: &a },
            NpzArray { name: "b", dtype: DType::I16, shape: &[2, 3], data: &b },
            NpzArray { name: "empty", dtype: DType::F32, shape: &[0], data: &[] },
        ];
        write_npz(&p, &arrays, compressed).unwrap();
        check_source(open(&p).unwrap().as_ref());
    }
    let npy = dir.path().join("w.npy");
    mlxport_tensor::npy::write_npy(&npy, DType::F32, &[750_001], &a, false).unwrap();
    check_source(open(&npy).unwrap().as_ref());
    // Fortran order is transposed on read: the pieces follow row-major order.
    let f = dir.path().join("f.npy");
    mlxport_tensor::npy::write_npy(&f, DType::I16, &[2, 3], &b, true).unwrap();
    check_source(open(&f).unwrap().as_ref());
}

#[test]
fn numpy_written_npz_streams_like_numpy_reads_it() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let p = dir.path().join("np.npz");
    mlxport_testkit::run_py(
        &py,
        "import numpy as np, sys\nr = np.random.default_rng(0)\nnp.savez_compressed(sys.argv[1], x=r.standard_normal((300, 1001)).astype('<f4'), y=np.arange(7, dtype='>i8'), z=np.asfortranarray(r.standard_normal((5, 9))))",
        &[p.to_str().unwrap()],
    );
    let src = open(&p).unwrap();
    check_source(src.as_ref());
    let x = src.chunks("x").unwrap();
    assert_eq!(x.len(), 300 * 1001 * 4);
}

/// Flip one byte of the first member's data in place.
fn corrupt_member_byte(path: &std::path::Path, at_from_end_of_data: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    // The first local header: 30 bytes + name + extra, then data.
    let name_len = u16::from_le_bytes([bytes[26], bytes[27]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[28], bytes[29]]) as usize;
    let csize = u32::from_le_bytes(bytes[18..22].try_into().unwrap()) as usize;
    let start = 30 + name_len + extra_len;
    let at = start + csize - 1 - at_from_end_of_data;
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupt_members_fail_by_the_last_piece() {
    let dir = mlxport_testkit::tempdir();
    // Clean members stream whole, large pieces included.
    let big = data(9_000_000, 4);
    let p = dir.path().join("big.npz");
    write_npz(&p, &[NpzArray { name: "a", dtype: DType::U8, shape: &[9_000_000], data: &big }], false).unwrap();
    let src = open(&p).unwrap();
    let mut r = src.chunks("a").unwrap();
    assert_eq!(drain(r.as_mut(), 8 << 20).unwrap(), big);
    // Small pieces, and pieces large enough for the parallel CRC.
    for (len, piece, most) in [(400_000usize, 64usize << 10, 7), (9_000_000, 8 << 20, 2)] {
        let a = data(len, 3);
        for compressed in [false, true] {
            let p = dir.path().join(format!("c{compressed}{len}.npz"));
            write_npz(&p, &[NpzArray { name: "a", dtype: DType::U8, shape: &[len as u64], data: &a }], compressed).unwrap();
            corrupt_member_byte(&p, 1000);
            let src = open(&p).unwrap();
            let mut r = src.chunks("a").unwrap();
            let mut pieces = 0;
            let err = loop {
                match r.next_chunk(piece) {
                    Ok([]) => {
                        panic!("corrupt member streamed to the end (compressed={compressed})")
                    }
                    Ok(_) => pieces += 1,
                    Err(e) => break e,
                }
            };
            let msg = err.to_string();
            assert!(msg.contains("member 'a.npy'"), "{msg}");
            assert!(msg.contains("CRC-32") || msg.contains("deflate") || msg.contains("inflates"), "{msg}");
            assert!(pieces < most, "the error surfaced after {pieces} pieces");
            // raw() agrees that the member is bad.
            assert!(src.raw("a").is_err());
        }
    }
}
