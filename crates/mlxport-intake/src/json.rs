//! Strict JSON: like `serde_json::from_slice`, but a duplicate key anywhere
//! is an error (serde keeps the last one silently), and nesting is bounded.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parse JSON, rejecting duplicate keys at any depth. A broken rule is an
/// [`Error::InvalidInput`](crate::Error::InvalidInput) saying where; the
/// caller names the file.
pub fn parse_strict(bytes: &[u8]) -> crate::Result<Value> {
    let invalid = |e: serde_json::Error| crate::Error::InvalidInput(e.to_string());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Strict.deserialize(&mut de).map_err(invalid)?;
    de.end().map_err(invalid)?;
    Ok(v)
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(A::Error::custom(format!("duplicate key '{k}'")));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn duplicates_rejected_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).unwrap_err().to_string().contains("duplicate key 'a'"));
        assert!(parse_strict(br#"{"x":[{"b":1,"b":1}]}"#).unwrap_err().to_string().contains("duplicate key 'b'"));
        assert_eq!(parse_strict(br#"{"a":{"a":1}}"#).unwrap()["a"]["a"], 1);
        let deep = "[".repeat(100_000);
        assert!(parse_strict(deep.as_bytes()).is_err());
        assert!(parse_strict(b"{} x").is_err());
    }
}
