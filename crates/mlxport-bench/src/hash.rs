//! Content hashes for receipts: SHA-256 of files and of canonical JSON
//! (object keys sorted, no whitespace), so a receipt re-serialized by any
//! tool still hashes the same.

use serde_json::Value;

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", mlxport_util::hash::sha256_hex(bytes))
}

/// `sha256:<hex>` of a file, streamed, and its size.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let d = mlxport_util::hash::sha256_file(path)?;
    Ok((format!("sha256:{}", d.sha256), d.bytes))
}

/// `sha256:<hex>` of the canonical JSON form of a value.
pub fn sha256_json<T: serde::Serialize>(v: &T) -> String {
    let value = serde_json::to_value(v).expect("receipt types serialize");
    let mut out = String::new();
    canonical(&value, &mut out);
    sha256(out.as_bytes())
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": {"x": "s", "y": [1, 2]}, "b": 1 }"#).unwrap();
        assert_eq!(sha256_json(&a), sha256_json(&b));
        assert_eq!(sha256(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
