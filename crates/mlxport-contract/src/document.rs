//! Reading a versioned JSON document (`"schema": "mlxport.NAME/vN"`) with
//! its type: the schema is checked first, so another document gets the
//! clearer message, and every error names the file and the rule broken.
//!
//! ```
//! use std::path::Path;
//! use mlxport_contract::document;
//! #[derive(Debug, serde::Deserialize)]
//! struct Doc { schema: String, n: u32 }
//! let d: Doc = document::parse(r#"{"schema": "x/v1", "n": 3}"#, Path::new("d.json"), &["x/v1"]).unwrap();
//! assert_eq!((d.schema.as_str(), d.n), ("x/v1", 3));
//! let e = document::parse::<Doc>(r#"{"schema": "y/v1"}"#, Path::new("d.json"), &["x/v1"]).unwrap_err();
//! assert_eq!(e.to_string(), "d.json: schema 'y/v1' is not x/v1");
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Why a document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Not JSON, or JSON that is not the schema's document.
    #[error("{}: not a valid {schema} document: {source}", path.display())]
    Invalid { path: PathBuf, schema: String, source: serde_json::Error },
    /// Another document, or none named.
    #[error("{}: {}", path.display(), schema_rule(found.as_deref(), expected))]
    Schema { path: PathBuf, found: Option<String>, expected: String },
}

impl DocumentError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DocumentError::Io { path, .. } | DocumentError::Invalid { path, .. } | DocumentError::Schema { path, .. } => path,
        }
    }
}

fn schema_rule(found: Option<&str>, expected: &str) -> String {
    match found {
        Some(s) => format!("schema '{s}' is not {expected}"),
        None => format!("no \"schema\" (expected {expected})"),
    }
}

/// The `schema` string of a JSON document, if it has one.
pub fn schema_of(text: &str, path: &Path, expected: &str) -> Result<Option<String>, DocumentError> {
    #[derive(Deserialize)]
    struct Head {
        schema: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_str(text).map_err(|source| DocumentError::Invalid { path: path.to_path_buf(), schema: expected.to_string(), source })?;
    Ok(head.schema.map(|s| s.as_str().map(str::to_string).unwrap_or_else(|| s.to_string())))
}

/// Parse a document whose schema is one of `schemas`; `path` names the
/// file in errors.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path, schemas: &[&str]) -> Result<T, DocumentError> {
    let expected = schemas.join(" or ");
    let found = schema_of(text, path, &expected)?;
    let Some(s) = found.as_deref().filter(|s| schemas.contains(s)) else {
        return Err(DocumentError::Schema { path: path.to_path_buf(), found, expected });
    };
    serde_json::from_str(text).map_err(|source| DocumentError::Invalid { path: path.to_path_buf(), schema: s.to_string(), source })
}

/// Read and parse a document (see [`parse`]).
pub fn read<T: DeserializeOwned>(path: &Path, schemas: &[&str]) -> Result<T, DocumentError> {
    let text = std::fs::read_to_string(path).map_err(|source| DocumentError::Io { path: path.to_path_buf(), source })?;
    parse(&text, path, schemas)
}

/// For a float field that may hold NaN or an infinity: JSON writes those
/// as `null`, which reads back as NaN (`#[serde(deserialize_with =
/// "mlxport_contract::document::nan_if_null")]`), so the document
/// re-serialises to the same bytes.
pub fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, Deserialize)]
    struct Doc {
        schema: String,
        #[serde(deserialize_with = "nan_if_null")]
        x: f64,
    }

    #[test]
    fn schema_first_then_the_document() {
        let p = Path::new("a/b.json");
        let e = parse::<Doc>(r#"{"x": 1}"#, p, &["d/v1"]).unwrap_err();
        assert_eq!(e.to_string(), "a/b.json: no \"schema\" (expected d/v1)");
        let e = parse::<Doc>(r#"{"schema": "d/v1", "x": "one"}"#, p, &["d/v1"]).unwrap_err();
        assert!(e.to_string().starts_with("a/b.json: not a valid d/v1 document: invalid type"), "{e}");
        let e = parse::<Doc>("[", p, &["d/v1", "e/v1"]).unwrap_err();
        assert!(e.to_string().starts_with("a/b.json: not a valid d/v1 or e/v1 document"), "{e}");
        let d: Doc = parse(r#"{"schema": "e/v1", "x": null}"#, p, &["d/v1", "e/v1"]).unwrap();
        assert!(d.x.is_nan());
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"schema":"e/v1","x":null}"#);
        assert!(matches!(read::<Doc>(Path::new("/nonexistent/x.json"), &["d/v1"]), Err(DocumentError::Io { .. })));
    }
}
