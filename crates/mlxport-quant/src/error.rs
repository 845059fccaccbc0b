//! Errors of the quantization kernels.

use mlxport_tensor::DType;

/// Why a tensor cannot be quantized or dequantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// Input element is NaN or infinite; `index` is the flat (row-major)
    /// index of the first such element.
    #[error("element {index} (row {row}, column {col}) is {value}: quantization needs finite weights")]
    NonFinite { index: u64, row: u64, col: u64, value: f32 },
    #[error("dtype {0} cannot be quantized: use F32, F16 or BF16")]
    UnsupportedDType(DType),
    #[error("output dtype {0} is not supported: dequantize to F32, F16 or BF16")]
    UnsupportedOutput(DType),
    #[error("{mode} quantization does not support {bits} bits (supported: {supported})")]
    Bits { mode: crate::Mode, bits: u8, supported: &'static str },
    #[error("{mode} quantization does not support group size {group_size} (supported: {supported})")]
    GroupSize { mode: crate::Mode, group_size: usize, supported: &'static str },
    #[error("shape {shape:?}: {rule}")]
    Shape { shape: Vec<usize>, rule: String },
    #[error("data is {actual} bytes but shape {shape:?} of {dtype} needs {expected}")]
    ByteLength { shape: Vec<usize>, dtype: DType, expected: u64, actual: u64 },
    #[error("quantized tensor is inconsistent: {0}")]
    Inconsistent(String),
    #[error("unknown quantization mode {0:?} (expected affine, mxfp4, mxfp8 or nvfp4)")]
    UnknownMode(String),
    #[error("global scale {0} is not a finite positive float32 (nvfp4 only)")]
    GlobalScale(f32),
}

pub type Result<T> = std::result::Result<T, QuantError>;
