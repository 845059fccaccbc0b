//! Input the kernels must refuse, with errors a user can act on.

use half::{bf16, f16};
use mlxport_quant::{dequantize, quantize, Mode, Params, QuantError, Quantized};
use mlxport_tensor::DType;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn nan_and_inf_name_the_first_bad_element() {
    let p = Params::new(Mode::Affine, None, None).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut v = vec![0.5f32; 4 * 128];
        v[300] = bad;
        v[400] = f32::NAN;
        let e = quantize(&f32_bytes(&v), DType::F32, &[4, 128], &p).unwrap_err();
        match &e {
            QuantError::NonFinite { index, row, col, .. } => assert_eq!((*index, *row, *col), (300, 2, 44)),
            other => panic!("unexpected {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("element 300") && msg.contains("row 2") && msg.contains("finite"), "{msg}");
    }
    // half types, every mode
    for m in Mode::ALL {
        let p = Params::new(m, None, None).unwrap();
        let mut h = vec![f16::from_f32(1.0); 2 * 128];
        h[129] = f16::INFINITY;
        let bytes: Vec<u8> = h.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
        assert!(matches!(quantize(&bytes, DType::F16, &[2, 128], &p), Err(QuantError::NonFinite { index: 129, .. })), "{m}");
        let mut b = vec![bf16::from_f32(1.0); 2 * 128];
        b[7] = bf16::NAN;
        let bytes: Vec<u8> = b.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
        assert!(matches!(quantize(&bytes, DType::BF16, &[2, 128], &p), Err(QuantError::NonFinite { index: 7, .. })), "{m}");
    }
}

#[test]
fn parameters_outside_what_mlx_accepts_are_refused() {
    assert!(matches!(Params::new(Mode::Affine, Some(7), None), Err(QuantError::Bits { bits: 7, .. })));
    assert!(matches!(Params::new(Mode::Affine, Some(0), None), Err(QuantError::Bits { .. })));
    assert!(matches!(Params::new(Mode::Affine, None, Some(16)), Err(QuantError::GroupSize { group_size: 16, .. })));
    assert!(matches!(Params::new(Mode::Mxfp4, Some(8), None), Err(QuantError::Bits { .. })));
    assert!(matches!(Params::new(Mode::Mxfp8, None, Some(64)), Err(QuantError::GroupSize { .. })));
    assert!(matches!(Params::new(Mode::Nvfp4, None, Some(32)), Err(QuantError::GroupSize { .. })));
    let d = Params::new(Mode::Affine, None, None).unwrap();
    assert_eq!((d.bits, d.group_size), (4, 64));
    assert_eq!(Params::new(Mode::Mxfp8, None, None).unwrap().bits, 8);
    assert_eq!(Params::new(Mode::Nvfp4, None, None).unwrap().group_size, 16);
    assert!("mxfp4".parse::<Mode>().is_ok());
    assert!("fp4".parse::<Mode>().unwrap_err().to_string().contains("affine, mxfp4"));
    assert_eq!(serde_json::to_string(&Mode::Nvfp4).unwrap(), "\"nvfp4\"");
    assert_eq!(Mode::Mxfp8.to_string(), "mxfp8");
}

#[test]
fn bad_shapes_dtypes_and_lengths_are_refused() {
    let p = Params::new(Mode::Affine, None, Some(32)).unwrap();
    let v = f32_bytes(&[1.0; 64]);
    let e = quantize(&v, DType::F32, &[64], &p).unwrap_err();
    assert!(e.to_string().contains("at least 2 dimensions"), "{e}");
    let e = quantize(&f32_bytes(&[1.0; 96]), DType::F32, &[2, 48], &p).unwrap_err();
    assert!(e.to_string().contains("not a positive multiple of the group size 32"), "{e}");
    let e = quantize(&v, DType::F32, &[1, 32], &p).unwrap_err();
    assert!(matches!(e, QuantError::ByteLength { expected: 128, actual: 256, .. }), "{e}");
    let e = quantize(&v, DType::I32, &[2, 32], &p).unwrap_err();
    assert!(matches!(e, QuantError::UnsupportedDType(DType::I32)));
    let e = quantize(&[], DType::F32, &[0, 32], &p).unwrap();
    assert!(e.wq.is_empty());
    let e = quantize(&v, DType::F32, &[usize::MAX, 2, 32], &p).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");

    // a quantized tensor that does not fit its parameters
    let q = quantize(&v, DType::F32, &[2, 32], &p).unwrap();
    let p4 = Params::new(Mode::Affine, Some(8), Some(32)).unwrap();
    assert!(matches!(dequantize(&q, &p4, DType::F32), Err(QuantError::Inconsistent(_))));
    let mut broken: Quantized = q.clone();
    broken.biases = None;
    assert!(dequantize(&broken, &p, DType::F32).unwrap_err().to_string().contains("biases"));
    let mut broken = q.clone();
    broken.scales.pop();
    assert!(matches!(dequantize(&broken, &p, DType::F32), Err(QuantError::Inconsistent(_))));
    assert!(matches!(dequantize(&q, &p, DType::U8), Err(QuantError::UnsupportedOutput(DType::U8))));
}

#[test]
fn bits_per_weight_counts_scales_and_biases() {
    let p = Params::new(Mode::Affine, Some(4), Some(64)).unwrap();
    assert_eq!(p.bits_per_weight(DType::BF16), 4.5);
    assert_eq!(p.bits_per_weight(DType::F32), 5.0);
    assert_eq!(Params::new(Mode::Mxfp4, None, None).unwrap().bits_per_weight(DType::BF16), 4.25);
    assert_eq!(Params::new(Mode::Nvfp4, None, None).unwrap().bits_per_weight(DType::F16), 4.5);
    assert_eq!(Params::new(Mode::Mxfp8, None, None).unwrap().bits_per_weight(DType::F32), 8.25);
    // and agrees with the stored sizes
    let v = f32_bytes(&vec![0.25; 8 * 128]);
    for m in Mode::ALL {
        let p = Params::new(m, None, None).unwrap();
        let q = quantize(&v, DType::F32, &[8, 128], &p).unwrap();
        let stored = q.wq.len() * 4 + q.scales.len() + q.biases.as_ref().map_or(0, |b| b.len());
        assert_eq!(stored as f64 * 8.0 / 1024.0, p.bits_per_weight(DType::F32), "{m}");
    }
}

#[test]
fn slices_of_whole_rows_concatenate_to_the_whole() {
    let v: Vec<f32> = (0..12 * 128).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
    let bytes = f32_bytes(&v);
    for m in Mode::ALL {
        let p = Params::new(m, None, None).unwrap();
        let whole = quantize(&bytes, DType::F32, &[3, 4, 128], &p).unwrap();
        let (mut wq, mut scales, mut biases) = (Vec::new(), Vec::new(), Vec::new());
        for part in bytes.chunks(5 * 128 * 4) {
            let q = quantize(part, DType::F32, &[part.len() / 512, 128], &p).unwrap();
            wq.extend(q.wq);
            scales.extend(q.scales);
            biases.extend(q.biases.unwrap_or_default());
        }
        assert_eq!(wq, whole.wq, "{m}");
        assert_eq!(scales, whole.scales, "{m}");
        assert_eq!(biases, whole.biases.clone().unwrap_or_default(), "{m}");
        assert_eq!(whole.wq_shape()[..2], [3, 4]);
    }
}
