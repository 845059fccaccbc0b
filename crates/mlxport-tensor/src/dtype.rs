//! Element types and exact conversions between them.
//!
//! [`DType`] names every element type that the supported formats can hold,
//! spelled as safetensors spells it. Floating types convert to and from
//! `f32`/`f64` with round-to-nearest-even, including subnormals; the 8-bit
//! float formats follow the OCP definitions (`E4M3` is the "fn" variant: no
//! infinities, max 448; the `FNUZ` variants have no negative zero and use
//! `0x80` as NaN). Bulk encoding matches torch's casts: E4M3 saturates any
//! overflow (infinities too) to +-448, E5M2 overflows to infinity and the
//! FNUZ formats overflow to NaN.

use std::fmt;

/// An element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    BF16,
    F32,
    F64,
    /// Complex of two f32 (real, imaginary).
    C64,
    /// Complex of two f64 (numpy `complex128`; not a safetensors dtype).
    C128,
    F8E4M3,
    F8E5M2,
    F8E4M3Fnuz,
    F8E5M2Fnuz,
    /// Exponent-only scale format used by MX block formats.
    F8E8M0,
    F6E2M3,
    F6E3M2,
    F4,
}

/// All dtypes, in a stable order.
pub const ALL_DTYPES: [DType; 23] = [
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
    DType::C64,
    DType::C128,
    DType::F8E4M3,
    DType::F8E5M2,
    DType::F8E4M3Fnuz,
    DType::F8E5M2Fnuz,
    DType::F8E8M0,
    DType::F6E2M3,
    DType::F6E3M2,
    DType::F4,
];

/// Broad class of a dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    UnsignedInt,
    SignedInt,
    Float,
    Complex,
}

impl DType {
    /// Size of one element in bits (4 and 6 for the sub-byte floats).
    pub fn bits(self) -> u64 {
        use DType::*;
        match self {
            Bool | U8 | I8 | F8E4M3 | F8E5M2 | F8E4M3Fnuz | F8E5M2Fnuz | F8E8M0 => 8,
            U16 | I16 | F16 | BF16 => 16,
            U32 | I32 | F32 => 32,
            U64 | I64 | F64 | C64 => 64,
            C128 => 128,
            F6E2M3 | F6E3M2 => 6,
            F4 => 4,
        }
    }

    /// Size of one element in bytes, or `None` for sub-byte types.
    pub fn size(self) -> Option<usize> {
        let b = self.bits();
        b.is_multiple_of(8).then_some((b / 8) as usize)
    }

    /// Byte length of `numel` elements, or `None` on overflow or when the
    /// total is not a whole number of bytes.
    pub fn byte_len(self, numel: u64) -> Option<u64> {
        let bits = numel.checked_mul(self.bits())?;
        (bits % 8 == 0).then_some(bits / 8)
    }

    pub fn kind(self) -> Kind {
        use DType::*;
        match self {
            Bool => Kind::Bool,
            U8 | U16 | U32 | U64 => Kind::UnsignedInt,
            I8 | I16 | I32 | I64 => Kind::SignedInt,
            C64 | C128 => Kind::Complex,
            _ => Kind::Float,
        }
    }

    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    pub fn is_integer(self) -> bool {
        matches!(self.kind(), Kind::UnsignedInt | Kind::SignedInt | Kind::Bool)
    }

    /// Whether values of this dtype can be decoded to real numbers here
    /// (everything but complex and the packed sub-byte floats).
    pub fn is_decodable(self) -> bool {
        !matches!(self, DType::C64 | DType::C128 | DType::F6E2M3 | DType::F6E3M2 | DType::F4)
    }

    /// The safetensors spelling (`"BF16"`, `"F8_E4M3"`, ...). `C128` has no
    /// safetensors spelling and is named `"C128"`.
    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            Bool => "BOOL",
            U8 => "U8",
            I8 => "I8",
            U16 => "U16",
            I16 => "I16",
            U32 => "U32",
            I32 => "I32",
            U64 => "U64",
            I64 => "I64",
            F16 => "F16",
            BF16 => "BF16",
            F32 => "F32",
            F64 => "F64",
            C64 => "C64",
            C128 => "C128",
            F8E4M3 => "F8_E4M3",
            F8E5M2 => "F8_E5M2",
            F8E4M3Fnuz => "F8_E4M3FNUZ",
            F8E5M2Fnuz => "F8_E5M2FNUZ",
            F8E8M0 => "F8_E8M0",
            F6E2M3 => "F6_E2M3",
            F6E3M2 => "F6_E3M2",
            F4 => "F4",
        }
    }

    /// Parse the safetensors spelling.
    pub fn from_name(s: &str) -> Option<DType> {
        ALL_DTYPES.iter().copied().find(|d| d.name() == s)
    }

    /// Whether safetensors can store this dtype.
    pub fn in_safetensors(self) -> bool {
        self != DType::C128
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// Minifloats: one exact encoder/decoder for every small float format.
// ---------------------------------------------------------------------------

/// Parameters of a small binary floating-point format.
#[derive(Clone, Copy, Debug)]
pub struct MiniFloat {
    pub exp_bits: u32,
    pub man_bits: u32,
    pub bias: i32,
    /// IEEE-style: the top exponent is reserved for inf/NaN.
    pub ieee: bool,
    /// "fnuz": no negative zero, no infinities, NaN is the sign bit alone.
    pub fnuz: bool,
}

pub const F16_FMT: MiniFloat = MiniFloat { exp_bits: 5, man_bits: 10, bias: 15, ieee: true, fnuz: false };
pub const BF16_FMT: MiniFloat = MiniFloat { exp_bits: 8, man_bits: 7, bias: 127, ieee: true, fnuz: false };
pub const E5M2_FMT: MiniFloat = MiniFloat { exp_bits: 5, man_bits: 2, bias: 15, ieee: true, fnuz: false };
/// E4M3 "fn": no infinities; S.1111.111 is NaN; max 448.
pub const E4M3_FMT: MiniFloat = MiniFloat { exp_bits: 4, man_bits: 3, bias: 7, ieee: false, fnuz: false };
pub const E4M3FNUZ_FMT: MiniFloat = MiniFloat { exp_bits: 4, man_bits: 3, bias: 8, ieee: false, fnuz: true };
pub const E5M2FNUZ_FMT: MiniFloat = MiniFloat { exp_bits: 5, man_bits: 2, bias: 16, ieee: false, fnuz: true };

impl MiniFloat {
    fn total_bits(&self) -> u32 {
        1 + self.exp_bits + self.man_bits
    }
    fn sign_bit(&self) -> u32 {
        1 << (self.exp_bits + self.man_bits)
    }
    fn max_exp_field(&self) -> u32 {
        (1 << self.exp_bits) - 1
    }
    fn nan_code(&self) -> u32 {
        if self.fnuz {
            self.sign_bit()
        } else if self.ieee {
            (self.max_exp_field() << self.man_bits) | (1 << (self.man_bits - 1))
        } else {
            (self.max_exp_field() << self.man_bits) | ((1 << self.man_bits) - 1)
        }
    }
    /// Largest finite value.
    pub fn max_finite(&self) -> f64 {
        let (e, m) = if self.ieee {
            (self.max_exp_field() - 1, (1u32 << self.man_bits) - 1)
        } else if self.fnuz {
            (self.max_exp_field(), (1u32 << self.man_bits) - 1)
        } else {
            (self.max_exp_field(), (1u32 << self.man_bits) - 2)
        };
        (1.0 + m as f64 / (1u64 << self.man_bits) as f64) * 2f64.powi(e as i32 - self.bias)
    }

    /// Decode a code (in the low `total_bits` bits) to f64, exactly.
    pub fn decode(&self, code: u32) -> f64 {
        let code = code & ((1u32 << self.total_bits()) - 1);
        if self.fnuz && code == self.sign_bit() {
            return f64::NAN;
        }
        let neg = code & self.sign_bit() != 0;
        let e = (code >> self.man_bits) & self.max_exp_field();
        let m = code & ((1 << self.man_bits) - 1);
        let v = if self.ieee && e == self.max_exp_field() {
            if m == 0 {
                f64::INFINITY
            } else {
                return f64::NAN;
            }
        } else if !self.ieee && !self.fnuz && e == self.max_exp_field() && m == (1 << self.man_bits) - 1 {
            return f64::NAN;
        } else if e == 0 {
            m as f64 * 2f64.powi(1 - self.bias - self.man_bits as i32)
        } else {
            (m as f64 + (1u64 << self.man_bits) as f64) * 2f64.powi(e as i32 - self.bias - self.man_bits as i32)
        };
        if neg {
            -v
        } else {
            v
        }
    }

    /// Encode with round-to-nearest-even. Values beyond the largest finite
    /// value become infinity (IEEE formats) or NaN (formats without
    /// infinities), as torch and ml_dtypes do; use [`MiniFloat::encode_saturating`]
    /// to clamp instead.
    pub fn encode(&self, x: f64) -> u32 {
        self.encode_impl(x, false)
    }

    /// Encode with round-to-nearest-even, clamping finite overflow to the
    /// largest finite value (infinities still map to inf/NaN).
    pub fn encode_saturating(&self, x: f64) -> u32 {
        self.encode_impl(x, true)
    }

    fn encode_impl(&self, x: f64, saturate: bool) -> u32 {
        if x.is_nan() {
            return self.nan_code();
        }
        let neg = x.is_sign_negative();
        let sign = if neg { self.sign_bit() } else { 0 };
        let a = x.abs();
        let overflow = |finite_input: bool| -> u32 {
            if saturate && finite_input {
                sign | self.encode_exact_magnitude(self.max_finite())
            } else if self.ieee {
                sign | (self.max_exp_field() << self.man_bits)
            } else {
                self.nan_code()
            }
        };
        if a.is_infinite() {
            return overflow(false);
        }
        if a == 0.0 {
            return if self.fnuz { 0 } else { sign };
        }
        let emin = 1 - self.bias;
        let e = exponent_of(a).max(emin);
        let quantum = e - self.man_bits as i32;
        let q = (a * 2f64.powi(-quantum)).round_ties_even();
        let r = q * 2f64.powi(quantum);
        if r > self.max_finite() {
            return overflow(true);
        }
        if r == 0.0 {
            return if self.fnuz { 0 } else { sign };
        }
        sign | self.encode_exact_magnitude(r)
    }

    fn encode_exact_magnitude(&self, r: f64) -> u32 {
        let emin = 1 - self.bias;
        let e = exponent_of(r);
        if e < emin {
            (r * 2f64.powi(self.man_bits as i32 - emin)) as u32
        } else {
            let m = (r * 2f64.powi(self.man_bits as i32 - e)) as u32 - (1 << self.man_bits);
            (((e + self.bias) as u32) << self.man_bits) | m
        }
    }
}

/// floor(log2(a)) for a finite positive f64, exact (subnormals included).
fn exponent_of(a: f64) -> i32 {
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // subnormal f64
        let m = bits & ((1u64 << 52) - 1);
        -1074 + (63 - m.leading_zeros() as i32)
    } else {
        e - 1023
    }
}

/// Decode one E8M0 scale byte: `2^(b - 127)`, `0xFF` is NaN.
pub fn e8m0_to_f64(b: u8) -> f64 {
    if b == 0xff {
        f64::NAN
    } else {
        2f64.powi(b as i32 - 127)
    }
}

/// Decode an FP4 E2M1 code (low 4 bits).
pub fn e2m1_to_f32(code: u8) -> f32 {
    const T: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
    let v = T[(code & 7) as usize];
    if code & 8 != 0 {
        -v
    } else {
        v
    }
}

// ---------------------------------------------------------------------------
// Bulk conversions.
// ---------------------------------------------------------------------------

/// Error of a bulk conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("dtype {0} cannot be converted to or from real numbers")]
    NotReal(DType),
    #[error("{len} bytes is not a whole number of {dtype} elements")]
    Ragged { dtype: DType, len: usize },
    #[error("output holds {out} elements but input holds {inp}")]
    Length { out: usize, inp: usize },
}

fn check_len(dtype: DType, src: &[u8], dst_len: usize) -> Result<(), ConvertError> {
    let size = dtype.size().filter(|_| dtype.is_decodable()).ok_or(ConvertError::NotReal(dtype))?;
    if !src.len().is_multiple_of(size) {
        return Err(ConvertError::Ragged { dtype, len: src.len() });
    }
    if src.len() / size != dst_len {
        return Err(ConvertError::Length { out: dst_len, inp: src.len() / size });
    }
    Ok(())
}

macro_rules! le {
    ($t:ty, $c:expr) => {
        <$t>::from_le_bytes($c.try_into().unwrap())
    };
}

/// Decode little-endian `src` of `dtype` into `dst` as f32. Integers wider
/// than 24 bits round to nearest; f64 rounds to nearest even.
pub fn decode_f32(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<(), ConvertError> {
    check_len(dtype, src, dst.len())?;
    use DType::*;
    match dtype {
        F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = le!(f32, c);
            }
        }
        F16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::f16::from_bits(le!(u16, c)).to_f32();
            }
        }
        BF16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f32::from_bits((le!(u16, c) as u32) << 16);
            }
        }
        F64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = le!(f64, c) as f32;
            }
        }
        _ => {
            let size = dtype.size().unwrap();
            let mut tmp = [0f64; 1];
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(size)) {
                decode_f64(dtype, c, &mut tmp)?;
                *d = tmp[0] as f32;
            }
        }
    }
    Ok(())
}

/// Decode little-endian `src` of `dtype` into `dst` as f64 (exact for every
/// float format and for integers up to 2^53).
pub fn decode_f64(dtype: DType, src: &[u8], dst: &mut [f64]) -> Result<(), ConvertError> {
    check_len(dtype, src, dst.len())?;
    use DType::*;
    let size = dtype.size().unwrap();
    let it = dst.iter_mut().zip(src.chunks_exact(size));
    match dtype {
        Bool => it.for_each(|(d, c)| *d = (c[0] != 0) as u8 as f64),
        U8 => it.for_each(|(d, c)| *d = c[0] as f64),
        I8 => it.for_each(|(d, c)| *d = c[0] as i8 as f64),
        U16 => it.for_each(|(d, c)| *d = le!(u16, c) as f64),
        I16 => it.for_each(|(d, c)| *d = le!(i16, c) as f64),
        U32 => it.for_each(|(d, c)| *d = le!(u32, c) as f64),
        I32 => it.for_each(|(d, c)| *d = le!(i32, c) as f64),
        U64 => it.for_each(|(d, c)| *d = le!(u64, c) as f64),
        I64 => it.for_each(|(d, c)| *d = le!(i64, c) as f64),
        F16 => it.for_each(|(d, c)| *d = half::f16::from_bits(le!(u16, c)).to_f64()),
        BF16 => it.for_each(|(d, c)| *d = f32::from_bits((le!(u16, c) as u32) << 16) as f64),
        F32 => it.for_each(|(d, c)| *d = le!(f32, c) as f64),
        F64 => it.for_each(|(d, c)| *d = le!(f64, c)),
        F8E4M3 => it.for_each(|(d, c)| *d = E4M3_FMT.decode(c[0] as u32)),
        F8E5M2 => it.for_each(|(d, c)| *d = E5M2_FMT.decode(c[0] as u32)),
        F8E4M3Fnuz => it.for_each(|(d, c)| *d = E4M3FNUZ_FMT.decode(c[0] as u32)),
        F8E5M2Fnuz => it.for_each(|(d, c)| *d = E5M2FNUZ_FMT.decode(c[0] as u32)),
        F8E8M0 => it.for_each(|(d, c)| *d = e8m0_to_f64(c[0])),
        C64 | C128 | F6E2M3 | F6E3M2 | F4 => return Err(ConvertError::NotReal(dtype)),
    }
    Ok(())
}

/// Encode f64 values as little-endian `dtype`, appending to `dst`. Floats
/// round to nearest even; integers truncate toward zero and saturate (NaN
/// becomes 0), like Rust's `as` casts; bool is `x != 0`.
pub fn encode_f64(dtype: DType, src: &[f64], dst: &mut Vec<u8>) -> Result<(), ConvertError> {
    if !dtype.is_decodable() {
        return Err(ConvertError::NotReal(dtype));
    }
    use DType::*;
    dst.reserve(src.len() * dtype.size().unwrap());
    for &x in src {
        match dtype {
            Bool => dst.push((x != 0.0) as u8),
            U8 => dst.push(x as u8),
            I8 => dst.push(x as i8 as u8),
            U16 => dst.extend_from_slice(&(x as u16).to_le_bytes()),
            I16 => dst.extend_from_slice(&(x as i16).to_le_bytes()),
            U32 => dst.extend_from_slice(&(x as u32).to_le_bytes()),
            I32 => dst.extend_from_slice(&(x as i32).to_le_bytes()),
            U64 => dst.extend_from_slice(&(x as u64).to_le_bytes()),
            I64 => dst.extend_from_slice(&(x as i64).to_le_bytes()),
            F16 => dst.extend_from_slice(&(F16_FMT.encode(x) as u16).to_le_bytes()),
            BF16 => dst.extend_from_slice(&(BF16_FMT.encode(x) as u16).to_le_bytes()),
            F32 => dst.extend_from_slice(&(x as f32).to_le_bytes()),
            F64 => dst.extend_from_slice(&x.to_le_bytes()),
            F8E4M3 => dst.push(encode_e4m3fn(x)),
            F8E5M2 => dst.push(E5M2_FMT.encode(x) as u8),
            F8E4M3Fnuz => dst.push(E4M3FNUZ_FMT.encode(x) as u8),
            F8E5M2Fnuz => dst.push(E5M2FNUZ_FMT.encode(x) as u8),
            F8E8M0 => dst.push(encode_e8m0(x)),
            C64 | C128 | F6E2M3 | F6E3M2 | F4 => unreachable!(),
        }
    }
    Ok(())
}

/// Encode f32 values as little-endian `dtype` (see [`encode_f64`]). Uses the
/// fast exact paths for f16 and bf16.
pub fn encode_f32(dtype: DType, src: &[f32], dst: &mut Vec<u8>) -> Result<(), ConvertError> {
    match dtype {
        DType::F32 => {
            dst.reserve(src.len() * 4);
            for &x in src {
                dst.extend_from_slice(&x.to_le_bytes());
            }
            Ok(())
        }
        DType::F16 => {
            dst.reserve(src.len() * 2);
            for &x in src {
                dst.extend_from_slice(&half::f16::from_f32(x).to_bits().to_le_bytes());
            }
            Ok(())
        }
        DType::BF16 => {
            dst.reserve(src.len() * 2);
            for &x in src {
                dst.extend_from_slice(&f32_to_bf16_bits(x).to_le_bytes());
            }
            Ok(())
        }
        _ => {
            let wide: Vec<f64> = src.iter().map(|&x| x as f64).collect();
            encode_f64(dtype, &wide, dst)
        }
    }
}

/// f32 to bf16 bits, round-to-nearest-even; NaN stays a quiet NaN.
#[inline]
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) as u16) | 0x0040;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    ((b + round) >> 16) as u16
}

/// E4M3 "fn" as torch and MLX cast to it: round to nearest even and
/// saturate every overflow, infinities included, to +-448; NaN stays NaN.
fn encode_e4m3fn(x: f64) -> u8 {
    let x = if x.is_infinite() { x.signum() * E4M3_FMT.max_finite() } else { x };
    E4M3_FMT.encode_saturating(x) as u8
}

/// Nearest E8M0 scale (round log2 to nearest, ties to even exponent),
/// clamped to the representable range; NaN, inf and values <= 0 are NaN.
fn encode_e8m0(x: f64) -> u8 {
    if !(x.is_finite() && x > 0.0) {
        return 0xff;
    }
    let e = x.log2().round_ties_even().clamp(-127.0, 127.0) as i32;
    (e + 127) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_bf16_match_half_on_every_code() {
        for c in 0..=u16::MAX as u32 {
            let h = half::f16::from_bits(c as u16).to_f64();
            let d = F16_FMT.decode(c);
            assert!(h == d || (h.is_nan() && d.is_nan()), "f16 {c:#x}");
            let b = half::bf16::from_bits(c as u16).to_f64();
            let d = BF16_FMT.decode(c);
            assert!(b == d || (b.is_nan() && d.is_nan()), "bf16 {c:#x}");
            if !d.is_nan() {
                assert_eq!(BF16_FMT.encode(d), c, "bf16 round trip {c:#x}");
            }
        }
    }

    #[test]
    fn encode_matches_half_rne_on_f32_grid() {
        // Every 97th f32 bit pattern: covers ties, subnormals, overflow.
        let mut i: u64 = 0;
        while i <= u32::MAX as u64 {
            let x = f32::from_bits(i as u32);
            if !x.is_nan() {
                assert_eq!(F16_FMT.encode(x as f64) as u16, half::f16::from_f32(x).to_bits(), "f16 {x:e}");
                assert_eq!(BF16_FMT.encode(x as f64) as u16, f32_to_bf16_bits(x), "bf16 {x:e}");
                assert_eq!(f32_to_bf16_bits(x), half::bf16::from_f32(x).to_bits(), "half bf16 {x:e}");
            }
            i += 9973;
        }
    }

    #[test]
    fn fp8_limits() {
        assert_eq!(E4M3_FMT.max_finite(), 448.0);
        assert_eq!(E5M2_FMT.max_finite(), 57344.0);
        assert_eq!(E4M3FNUZ_FMT.max_finite(), 240.0);
        assert_eq!(E5M2FNUZ_FMT.max_finite(), 57344.0);
        assert_eq!(E4M3_FMT.encode(448.0), 0x7e);
        assert_eq!(E4M3_FMT.encode(460.0), 0x7e);
        assert_eq!(E4M3_FMT.encode(470.0), 0x7f); // overflow to NaN
        assert_eq!(E4M3_FMT.encode_saturating(1e9), 0x7e);
        assert_eq!(E4M3_FMT.encode(-0.0), 0x80);
        assert_eq!(E4M3FNUZ_FMT.encode(-0.0), 0x00);
        assert!(E4M3FNUZ_FMT.decode(0x80).is_nan());
        assert_eq!(E5M2_FMT.encode(f64::INFINITY), 0x7c);
        // smallest subnormal of e4m3fn is 2^-9; half of it ties to zero (even)
        assert_eq!(E4M3_FMT.encode(2f64.powi(-9)), 1);
        assert_eq!(E4M3_FMT.encode(2f64.powi(-10)), 0);
        assert_eq!(E4M3_FMT.encode(1.5 * 2f64.powi(-9)), 2);
        for c in 0..256u32 {
            for f in [E4M3_FMT, E5M2_FMT, E4M3FNUZ_FMT, E5M2FNUZ_FMT] {
                let v = f.decode(c);
                if !(v.is_nan() || (f.fnuz && c == 0x80)) {
                    assert_eq!(f.encode(v), c, "{f:?} {c:#x}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::F4.byte_len(3), None);
        assert_eq!(DType::F4.byte_len(4), Some(2));
        assert_eq!(DType::F32.byte_len(u64::MAX), None);
    }
}
