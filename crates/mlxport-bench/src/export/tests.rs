use super::*;
use crate::testutil::receipt;

#[test]
fn renders_every_format() {
    let r = receipt(&[0.100, 0.101, 0.099, 0.100, 0.300, 0.100, 0.101, 0.100], Some(&[0.130, 0.131, 0.129, 0.130, 0.130, 0.131, 0.130, 0.129]));
    let json = by_name("json").unwrap().render(&r);
    let back: Receipt = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);

    let md = by_name("markdown").unwrap().render(&r);
    assert!(md.contains("| Command | Runs | Median [95% CI]"), "{md}");
    assert!(md.contains("| baseline `sleep 0.1` | 8 | 100.00 ms"), "{md}");
    assert!(md.contains("**Verdict: slower.**"), "{md}");
    assert!(md.contains("outliers by modified Z-score"), "{md}");

    let svg = by_name("svg").unwrap().render(&r);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), 16 + 2, "one per run and one per legend entry");
    assert!(svg.contains("(outlier)"));
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
}
