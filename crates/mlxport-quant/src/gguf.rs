//! GGUF Q4_0, Q4_1 and Q8_0 tensors as MLX affine tensors, losslessly (no
//! requantization): the layout `mx.load` gives a GGUF file's quantized
//! tensors.
//!
//! A block of 32 becomes one group of 32: the codes are repacked in order
//! (4 or 8 bits), the block scale `d` is the scale, and the bias is the
//! block minimum `m` (Q4_1) or `-8*d` (Q4_0) / `-128*d` (Q8_0, whose signed
//! codes are offset by 128) rounded to float16 as MLX computes it (so a
//! Q8_0 scale above 511.9 gives an infinite bias, in MLX too).

use mlxport_tensor::gguf::dequant::AffineBlocks;
use mlxport_tensor::DType;

use crate::float::to_f16_bits;
use crate::{Mode, Params, QuantError, Quantized, Result};

/// Repack the blocks of one GGUF tensor of numpy-order `shape` (last
/// dimension a multiple of 32) as MLX affine, bits 4 or 8, group 32, with
/// float16 scales and biases. Q5_0 / Q5_1 are refused: MLX dequantizes them
/// on load.
pub fn from_gguf_blocks(b: &AffineBlocks, shape: &[usize]) -> Result<(Quantized, Params)> {
    let bits = match (b.ty, b.bits, b.block_size) {
        ("Q4_0" | "Q4_1", 4, 32) => 4u8,
        ("Q8_0", 8, 32) => 8u8,
        (ty, ..) => return Err(QuantError::Inconsistent(format!("GGUF type {ty} has no MLX affine form (MLX keeps only Q4_0, Q4_1 and Q8_0 quantized)"))),
    };
    let p = Params::new(Mode::Affine, Some(bits), Some(32))?;
    crate::check_shape(shape, &p)?;
    let n: usize = shape.iter().product();
    if b.codes.len() != n || b.scales.len() * 32 != n || b.mins.as_ref().is_some_and(|m| m.len() != b.scales.len()) {
        return Err(QuantError::Inconsistent(format!("GGUF {}: {} codes and {} blocks do not fit shape {shape:?}", b.ty, b.codes.len(), b.scales.len())));
    }
    let mut wq = vec![0u32; n * bits as usize / 32];
    let per = 32 / bits as usize;
    for (w, c) in wq.iter_mut().zip(b.codes.chunks_exact(per)) {
        *w = c.iter().enumerate().fold(0u32, |w, (j, &q)| w | ((q as u32) & ((1 << bits) - 1)) << (j * bits as usize));
    }
    let scales: Vec<u8> = b.scales.iter().flat_map(|d| d.to_bits().to_le_bytes()).collect();
    let biases: Vec<u8> = match &b.mins {
        Some(m) => m.iter().flat_map(|m| m.to_bits().to_le_bytes()).collect(),
        None => {
            let z = -(b.zero_point as f32);
            b.scales.iter().flat_map(|d| to_f16_bits(z * d.to_f32()).to_le_bytes()).collect()
        }
    };
    Ok((Quantized { wq, scales, biases: Some(biases), scale_dtype: DType::F16, shape: shape.to_vec() }, p))
}
