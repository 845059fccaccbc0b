//! Small text helpers shared by the card and the report.

/// YAML scalar in double quotes when it needs them.
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./+".contains(c))
        && !matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "true" | "false" | "null" | "on" | "off" | "~")
        && !s.starts_with(['-', '.']);
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Escape for Markdown table cells.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Escape for HTML text and attributes.
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Numbers as the reports print them: scientific for small values.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(0.0) => "0".into(),
        Some(x) if x.is_nan() => "NaN".into(),
        Some(x) if x.abs() < 1e-3 || x.abs() >= 1e6 => format!("{x:.2e}"),
        Some(x) => format!("{x:.4}"),
    }
}

/// Cosine with enough digits to tell 0.99999 from 1.
pub fn cos(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) => format!("{x:.9}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_quoted_when_yaml_would_misread_them() {
        assert_eq!(yaml_str("apache-2.0"), "apache-2.0");
        assert_eq!(yaml_str("HuggingFaceTB/SmolLM2-135M"), "HuggingFaceTB/SmolLM2-135M");
        assert_eq!(yaml_str("no"), "\"no\"");
        assert_eq!(yaml_str("Llama 3.1: Community"), "\"Llama 3.1: Community\"");
        assert_eq!(yaml_str("-x"), "\"-x\"");
        assert_eq!(html("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
    }
}
