//! Bit packing of codes into uint32 words, as MLX lays them out: the codes
//! of a row form one little-endian bit stream (code `j` occupies bits
//! `[j*bits, (j+1)*bits)`), read as little-endian uint32 words. For 1, 2, 4
//! and 8 bits a word holds `32/bits` whole codes; 3-, 5- and 6-bit codes
//! straddle word boundaries. A group always fills whole words.

/// Pack `codes` (each `< 2^bits`) into `out` (`codes.len() * bits / 32` words).
#[inline]
pub(crate) fn pack(codes: &[u32], bits: u32, out: &mut [u32]) {
    if 32 % bits == 0 {
        let per = (32 / bits) as usize;
        for (w, c) in out.iter_mut().zip(codes.chunks_exact(per)) {
            let mut v = 0u32;
            for (j, &x) in c.iter().enumerate() {
                v |= x << (j as u32 * bits);
            }
            *w = v;
        }
    } else {
        let mut acc = 0u64;
        let mut n = 0u32;
        let mut o = 0;
        for &x in codes {
            acc |= (x as u64) << n;
            n += bits;
            if n >= 32 {
                out[o] = acc as u32;
                o += 1;
                acc >>= 32;
                n -= 32;
            }
        }
        debug_assert_eq!(n, 0);
    }
}

/// Unpack `out.len()` codes of `bits` bits from `words`.
#[inline]
pub(crate) fn unpack(words: &[u32], bits: u32, out: &mut [u32]) {
    let mask = (1u32 << bits) - 1;
    if 32 % bits == 0 {
        let per = (32 / bits) as usize;
        for (&w, c) in words.iter().zip(out.chunks_exact_mut(per)) {
            for (j, x) in c.iter_mut().enumerate() {
                *x = (w >> (j as u32 * bits)) & mask;
            }
        }
    } else {
        let mut acc = 0u64;
        let mut n = 0u32;
        let mut it = words.iter();
        for x in out.iter_mut() {
            if n < bits {
                acc |= (*it.next().unwrap_or(&0) as u64) << n;
                n += 32;
            }
            *x = (acc as u32) & mask;
            acc >>= bits;
            n -= bits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_width() {
        for bits in [1u32, 2, 3, 4, 5, 6, 8] {
            let codes: Vec<u32> = (0..128u32).map(|i| (i * 7 + 3) % (1 << bits)).collect();
            let mut words = vec![0u32; 128 * bits as usize / 32];
            pack(&codes, bits, &mut words);
            let mut back = vec![0u32; 128];
            unpack(&words, bits, &mut back);
            assert_eq!(codes, back, "bits {bits}");
        }
    }

    #[test]
    fn three_bit_layout_is_a_little_endian_stream() {
        // codes 1..=8 (mod 8) in 3 bits: bit stream LSB first
        let codes = [1u32, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0];
        let mut words = [0u32; 3];
        pack(&codes, 3, &mut words);
        let mut expect = [0u8; 12];
        for (j, &c) in codes.iter().enumerate() {
            for b in 0..3 {
                if c >> b & 1 == 1 {
                    let bit = j * 3 + b;
                    expect[bit / 8] |= 1 << (bit % 8);
                }
            }
        }
        let got: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(got, expect);
    }
}
