//! The table of ggml tensor types: id, name, block size and block byte size.
//!
//! Ids that ggml has retired (4, 5, 31-33, 36-38) are absent on purpose: a
//! file that uses one is reported as using an unknown type.

use crate::dtype::DType;

/// One ggml tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GgmlType {
    /// The numeric id stored in a GGUF tensor info.
    pub id: u32,
    /// ggml's name (`"Q4_1"`).
    pub name: &'static str,
    /// Elements per block (1 for plain element types).
    pub block_size: u64,
    /// Bytes per block.
    pub type_size: u64,
    /// The plain element type, for types that are not block-quantized.
    pub dense: Option<DType>,
}

const fn dense(id: u32, name: &'static str, size: u64, dtype: DType) -> GgmlType {
    GgmlType { id, name, block_size: 1, type_size: size, dense: Some(dtype) }
}

const fn block(id: u32, name: &'static str, block_size: u64, type_size: u64) -> GgmlType {
    GgmlType { id, name, block_size, type_size, dense: None }
}

/// Super-block size of the K-quants and most IQ types.
const QK_K: u64 = 256;

/// Every ggml type id in use, with its block geometry.
pub const GGML_TYPES: &[GgmlType] = &[
    dense(0, "F32", 4, DType::F32),
    dense(1, "F16", 2, DType::F16),
    block(2, "Q4_0", 32, 2 + 16),
    block(3, "Q4_1", 32, 2 + 2 + 16),
    block(6, "Q5_0", 32, 2 + 4 + 16),
    block(7, "Q5_1", 32, 2 + 2 + 4 + 16),
    block(8, "Q8_0", 32, 2 + 32),
    block(9, "Q8_1", 32, 4 + 4 + 32),
    block(10, "Q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4),
    block(11, "Q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12),
    block(12, "Q4_K", QK_K, 2 + 2 + QK_K / 2 + 12),
    block(13, "Q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12),
    block(14, "Q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16),
    block(15, "Q8_K", QK_K, 4 + QK_K + QK_K / 8),
    block(16, "IQ2_XXS", QK_K, 2 + QK_K / 4),
    block(17, "IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32),
    block(18, "IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8),
    block(19, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
    block(20, "IQ4_NL", 32, 2 + 16),
    block(21, "IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4),
    block(22, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
    block(23, "IQ4_XS", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64),
    dense(24, "I8", 1, DType::I8),
    dense(25, "I16", 2, DType::I16),
    dense(26, "I32", 4, DType::I32),
    dense(27, "I64", 8, DType::I64),
    dense(28, "F64", 8, DType::F64),
    block(29, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
    dense(30, "BF16", 2, DType::BF16),
    block(34, "TQ1_0", QK_K, 2 + 4 * 13),
    block(35, "TQ2_0", QK_K, 2 + 64),
    block(39, "MXFP4", 32, 1 + 16),
    block(40, "NVFP4", 64, 4 + 32),
    block(41, "Q1_0", 128, 2 + 16),
];

/// Look a type up by id.
pub fn ggml_type(id: u32) -> Option<GgmlType> {
    GGML_TYPES.iter().copied().find(|t| t.id == id)
}

/// Look a type up by name (`"Q4_K"`).
pub fn ggml_type_by_name(name: &str) -> Option<GgmlType> {
    GGML_TYPES.iter().copied().find(|t| t.name == name)
}

/// The known ids as compact ranges (`"0-3, 6-30, 34, 35, 39-41"`).
pub fn known_ids() -> String {
    let mut ids: Vec<u32> = GGML_TYPES.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => ids[i].to_string(),
            1 => format!("{}, {}", ids[i], ids[j]),
            _ => format!("{}-{}", ids[i], ids[j]),
        });
        i = j + 1;
    }
    parts.join(", ")
}

impl GgmlType {
    /// Bytes needed for `numel` elements, or `None` when `numel` is not a
    /// whole number of blocks or the size overflows.
    pub fn byte_len(&self, numel: u64) -> Option<u64> {
        if !numel.is_multiple_of(self.block_size) {
            return None;
        }
        (numel / self.block_size).checked_mul(self.type_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique() {
        for (i, a) in GGML_TYPES.iter().enumerate() {
            for b in &GGML_TYPES[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.name, b.name);
            }
        }
        assert!(ggml_type(4).is_none());
        assert!(ggml_type(31).is_none());
        assert_eq!(ggml_type(12).unwrap().type_size, 144);
        assert_eq!(ggml_type_by_name("Q6_K").unwrap().type_size, 210);
        assert_eq!(known_ids(), "0-3, 6-30, 34, 35, 39-41");
    }
}
