//! The failure atlas: for a rung that diverges, what usually causes a
//! divergence there. The table is data (`data/failure_atlas.toml`),
//! embedded in the binary, with stable ids.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The atlas as shipped.
pub const ATLAS_TOML: &str = include_str!("../data/failure_atlas.toml");

/// One entry: a place in the ladder (`stage`) or a symptom.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symptom: Option<String>,
    pub title: String,
    pub causes: Vec<String>,
    #[serde(default)]
    pub checks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AtlasFile {
    schema: String,
    entry: Vec<Entry>,
}

/// Stages a hint can be for.
pub const STAGES: [&str; 12] =
    ["config", "weights", "inputs", "first_layer", "isolated_block", "later_layer", "final_norm", "logits", "ids", "cache_decode", "edges", "other"];
/// Symptoms a note can be for.
pub const SYMPTOMS: [&str; 4] = ["nonfinite", "shape", "missing", "low_cosine"];

/// Parse and check an atlas: known schema, unique ids, every entry either
/// a known stage or a known symptom, every stage covered once.
pub fn parse(text: &str) -> Result<Vec<Entry>, crate::Error> {
    parse_text(text).map_err(crate::Error::InvalidInput)
}

fn parse_text(text: &str) -> Result<Vec<Entry>, String> {
    let f: AtlasFile = toml::from_str(text).map_err(|e| format!("failure atlas: {e}"))?;
    if f.schema != "mlxport.failure-atlas/v1" {
        return Err(format!("failure atlas: unknown schema '{}'", f.schema));
    }
    let mut ids = std::collections::BTreeSet::new();
    for e in &f.entry {
        if !ids.insert(e.id.as_str()) {
            return Err(format!("failure atlas: duplicate id '{}'", e.id));
        }
        match (&e.stage, &e.symptom) {
            (Some(s), None) if STAGES.contains(&s.as_str()) => {}
            (None, Some(s)) if SYMPTOMS.contains(&s.as_str()) => {}
            _ => return Err(format!("failure atlas: entry '{}' needs exactly one known stage or symptom", e.id)),
        }
        if e.causes.is_empty() {
            return Err(format!("failure atlas: entry '{}' lists no causes", e.id));
        }
    }
    for s in STAGES {
        if f.entry.iter().filter(|e| e.stage.as_deref() == Some(s)).count() != 1 {
            return Err(format!("failure atlas: stage '{s}' needs exactly one entry"));
        }
    }
    Ok(f.entry)
}

/// The embedded atlas.
pub fn atlas() -> &'static [Entry] {
    static ATLAS: OnceLock<Vec<Entry>> = OnceLock::new();
    ATLAS.get_or_init(|| parse(ATLAS_TOML).unwrap_or_else(|e| panic!("embedded {e}")))
}

/// The entry for a stage.
pub fn for_stage(stage: &str) -> Option<&'static Entry> {
    atlas().iter().find(|e| e.stage.as_deref() == Some(stage))
}

/// The entry for a symptom.
pub fn for_symptom(symptom: &str) -> Option<&'static Entry> {
    atlas().iter().find(|e| e.symptom.as_deref() == Some(symptom))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_atlas_is_valid_and_complete() {
        assert_eq!(atlas().len(), 16);
        for s in STAGES {
            assert!(for_stage(s).is_some(), "{s}");
        }
        for s in SYMPTOMS {
            assert!(for_symptom(s).is_some(), "{s}");
        }
        let first = for_stage("first_layer").unwrap();
        assert!(first.causes.iter().any(|c| c.contains("weight map")));
        assert!(for_stage("later_layer").unwrap().causes.iter().any(|c| c.contains("RoPE")));
        assert!(for_stage("first_layer").unwrap().causes.iter().any(|c| c.contains("RoPE")));
        assert!(for_stage("config").unwrap().causes.iter().any(|c| c.contains("rope_theta")));
    }

    #[test]
    fn bad_atlases_are_refused() {
        assert!(parse("schema = \"x\"\nentry = []").is_err());
        let dup = ATLAS_TOML.replace("id = \"other\"", "id = \"inputs\"");
        assert!(matches!(parse(&dup).unwrap_err(), crate::Error::InvalidInput(m) if m.contains("duplicate")));
        let unknown = ATLAS_TOML.replace("stage = \"other\"", "stage = \"elsewhere\"");
        assert!(parse(&unknown).is_err());
    }
}
