//! `port.json` (schema `mlxport.port/v1`): what a port did, step by step,
//! with every artifact's SHA-256. `mlxport port` writes it after every
//! step; `report` and `package` read it back and verify the artifacts.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::document::DocumentError;
use crate::{Dtype, Family, PortStatus, Step, StepStatus, Target};

/// The schema string of `port.json`.
pub const SCHEMA: &str = "mlxport.port/v1";
/// The file name inside PORT_DIR.
pub const FILE: &str = "port.json";

/// The tool that wrote the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The model that was ported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The model as given (no absolute path unless `--show-paths`).
    pub model: String,
    /// The inspection's tree fingerprint.
    pub fingerprint: Option<String>,
}

/// Where a pinned repository or revision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinOrigin {
    /// `--repo` / `--revision` on the command line.
    Flag,
    /// The model's path in a Hugging Face hub cache
    /// (`models--ORG--NAME/snapshots/COMMIT/`).
    HubCacheLayout,
}

/// What the port was made from, pinned: the Hugging Face repository and
/// revision, the source files with their SHA-256, and the versions of the
/// tool and of the Python libraries that ran the source (oracle) and the
/// port (capture). Absent in records of earlier releases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `owner/name` on the Hugging Face Hub.
    pub repo: Option<String>,
    /// A commit hash or tag.
    pub revision: Option<String>,
    pub repo_origin: Option<PinOrigin>,
    pub revision_origin: Option<PinOrigin>,
    /// The version of mlxport that wrote the record.
    pub mlxport: String,
    /// The source model's files as the inspection hashed them (relative
    /// to the model).
    pub files: Vec<Artifact>,
    /// Python library versions by side (`oracle`, `capture`), as their
    /// manifests recorded them.
    pub libraries: BTreeMap<String, BTreeMap<String, String>>,
}

/// How the port was asked for: the `mlxport port` flags that decide its
/// artifacts (not where it was written or how the run was shown), in
/// canonical order, so that `mlxport port [MODEL] --out DIR FLAGS...`
/// reproduces it. Absent in records of earlier releases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub flags: Vec<String>,
}

/// A file a step produced, relative to PORT_DIR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// One step's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: Step,
    pub status: StepStatus,
    /// SHA-256 of what the step read (upstream artifacts, options); a
    /// re-run with the same hash and intact artifacts keeps the step.
    pub inputs_sha256: Option<String>,
    pub seconds: f64,
    pub finished_at: String,
    pub artifacts: Vec<Artifact>,
    pub summary: String,
}

/// The whole record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortRecord {
    pub schema: String,
    pub tool: Tool,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    pub family: Option<Family>,
    pub model_type: Option<String>,
    pub target: Option<Target>,
    pub dtype: Dtype,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    pub status: PortStatus,
    pub stopped_at: Option<Step>,
    pub remediation: Vec<String>,
    pub steps: Vec<StepRecord>,
}

impl PortRecord {
    /// A new record for a port of `model`, written by `tool_version`.
    pub fn new(model: String, dtype: Dtype, tool_version: &str) -> Self {
        PortRecord {
            schema: SCHEMA.into(),
            tool: Tool { name: "mlxport".into(), version: tool_version.into() },
            source: Source { model, fingerprint: None },
            provenance: None,
            family: None,
            model_type: None,
            target: None,
            dtype,
            request: None,
            status: PortStatus::Stopped,
            stopped_at: None,
            remediation: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Parse a record; `path` names the file in errors (schema checked
    /// first, see [`crate::document`]).
    pub fn parse(text: &str, path: &Path) -> Result<PortRecord, DocumentError> {
        crate::document::parse(text, path, &[SCHEMA])
    }

    /// Read `DIR/port.json`.
    pub fn read(dir: &Path) -> Result<PortRecord, DocumentError> {
        crate::document::read(&dir.join(FILE), &[SCHEMA])
    }

    /// Write `DIR/port.json` atomically (pretty JSON, trailing newline).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        mlxport_util::fs::write_atomic(&dir.join(FILE), text.as_bytes())
    }

    /// The record of one step.
    pub fn step(&self, name: Step) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Record a step, replacing an earlier record of the same name; steps
    /// stay in the order they run in.
    pub fn put(&mut self, rec: StepRecord) {
        self.steps.retain(|s| s.name != rec.name);
        self.steps.push(rec);
        self.steps.sort_by_key(|s| s.name.number());
    }

    /// Whether the port finished every step it was asked for.
    pub fn is_complete(&self) -> bool {
        self.status == PortStatus::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port.json as the release before the typed contract wrote it.
    const EARLIER_RELEASE: &str = r#"{
  "schema": "mlxport.port/v1",
  "tool": {"name": "mlxport", "version": "0.1.0"},
  "source": {"model": "example:minilm", "fingerprint": "ab12"},
  "family": "encoder",
  "model_type": "bert",
  "target": "scaffold",
  "dtype": "keep",
  "status": "complete",
  "stopped_at": null,
  "remediation": [],
  "steps": [
    {"name": "inspect", "status": "done", "inputs_sha256": "00", "seconds": 0.5, "finished_at": "2026-12-01T10:00:00.000Z",
     "artifacts": [{"path": "inspection.json", "sha256": "11", "bytes": 3}], "summary": "encoder"},
    {"name": "quantize", "status": "skipped", "inputs_sha256": null, "seconds": 0.0, "finished_at": "2026-12-01T10:00:01.000Z",
     "artifacts": [], "summary": "not requested"}
  ]
}"#;

    #[test]
    fn earlier_records_load_and_write_back_the_same_strings() {
        let r = PortRecord::parse(EARLIER_RELEASE, Path::new("port.json")).unwrap();
        assert_eq!(r.family, Some(Family::Encoder));
        assert_eq!(r.target, Some(Target::Scaffold));
        assert_eq!(r.status, PortStatus::Complete);
        assert_eq!(r.step(Step::Quantize).unwrap().status, StepStatus::Skipped);
        let back: serde_json::Value = serde_json::to_value(&r).unwrap();
        let orig: serde_json::Value = serde_json::from_str(EARLIER_RELEASE).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn provenance_and_request_are_written_only_when_known() {
        let mut r = PortRecord::parse(EARLIER_RELEASE, Path::new("port.json")).unwrap();
        assert!(r.provenance.is_none() && r.request.is_none());
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("\"provenance\"") && !text.contains("\"request\""), "{text}");
        r.provenance = Some(Provenance {
            repo: Some("sentence-transformers/all-MiniLM-L6-v2".into()),
            revision: Some("c9745ed1d9f207416be6d2e6f8de32d1f16199bf".into()),
            repo_origin: Some(PinOrigin::HubCacheLayout),
            revision_origin: Some(PinOrigin::Flag),
            mlxport: "9.9.9".into(),
            files: vec![Artifact { path: "config.json".into(), sha256: "ab".into(), bytes: 2 }],
            libraries: [("oracle".to_string(), [("torch".to_string(), "2.5.0".to_string())].into())].into(),
        });
        r.request = Some(Request { flags: vec!["-q".into(), "--bits".into(), "8".into()] });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["provenance"]["repo_origin"], "hub-cache-layout");
        assert_eq!(v["provenance"]["revision_origin"], "flag");
        assert_eq!(v["provenance"]["libraries"]["oracle"]["torch"], "2.5.0");
        assert_eq!(v["request"]["flags"][1], "--bits");
        let back = PortRecord::parse(&v.to_string(), Path::new("port.json")).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn refusals_name_the_file_and_the_rule() {
        let p = Path::new("x/port.json");
        let e = PortRecord::parse(r#"{"schema": "mlxport.report/v1"}"#, p).unwrap_err();
        assert_eq!(e.to_string(), "x/port.json: schema 'mlxport.report/v1' is not mlxport.port/v1");
        let e = PortRecord::parse(&EARLIER_RELEASE.replace("\"keep\"", "\"f64\""), p).unwrap_err();
        assert!(e.to_string().starts_with("x/port.json: not a valid mlxport.port/v1 document: unknown variant `f64`"), "{e}");
        assert!(PortRecord::parse("[", p).is_err());
    }

    #[test]
    fn put_keeps_run_order_and_write_reads_back() {
        let mut r = PortRecord::new("m".into(), Dtype::F16, "9.9.9");
        let rec = |name| StepRecord {
            name,
            status: StepStatus::Done,
            inputs_sha256: None,
            seconds: 0.0,
            finished_at: String::new(),
            artifacts: vec![],
            summary: String::new(),
        };
        r.put(rec(Step::Package));
        r.put(rec(Step::MapDraft));
        r.put(rec(Step::Oracle));
        r.put(rec(Step::MapDraft));
        let names: Vec<Step> = r.steps.iter().map(|s| s.name).collect();
        assert_eq!(names, vec![Step::MapDraft, Step::Oracle, Step::Package]);
        let dir = tempfile::tempdir().unwrap();
        r.write(dir.path()).unwrap();
        assert_eq!(PortRecord::read(dir.path()).unwrap(), r);
    }
}
