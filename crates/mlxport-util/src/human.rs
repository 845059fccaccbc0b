//! Sizes and counts as people read them: `1.5 GiB`, `22.7M`.

const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// Binary units with one decimal (`86.6 MiB`); plain bytes below 1 KiB.
pub fn bytes(n: u64) -> String {
    bytes_with(n, 1)
}

/// Binary units with `decimals` decimals; plain bytes below 1 KiB.
pub fn bytes_with(n: u64, decimals: usize) -> String {
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.decimals$} {}", UNITS[u])
    }
}

/// Binary units of a measured (possibly fractional or unknown) byte
/// count with `decimals` decimals; `-` when not finite.
pub fn bytes_f64(b: f64, decimals: usize) -> String {
    if !b.is_finite() {
        return "-".into();
    }
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.decimals$} {}", UNITS[u])
    }
}

/// Counts with a decimal suffix: `9999`, `22.7K`, `22.7M`, `1.10B`.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(90_800_000), "86.6 MiB");
        assert_eq!(bytes_with(90_800_000, 2), "86.59 MiB");
        assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
        assert_eq!(bytes_f64(f64::NAN, 1), "-");
        assert_eq!(bytes_f64(512.4, 1), "512 B");
        assert_eq!(bytes_f64(1_572_864.0, 1), "1.5 MiB");
        assert_eq!(count(9_999), "9999");
        assert_eq!(count(10_000), "10.0K");
        assert_eq!(count(22_713_216), "22.7M");
        assert_eq!(count(1_100_048_384), "1.10B");
    }
}
