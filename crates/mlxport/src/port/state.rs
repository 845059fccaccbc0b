//! `port.json` (schema `mlxport.port/v1`): what a port did, step by step,
//! with every artifact's SHA-256 — and the hashing that decides whether a
//! re-run may keep a finished step.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "mlxport.port/v1";
pub const FILE: &str = "port.json";

/// Every step, in order.
pub const STEPS: &[&str] = &[
    "inspect",
    "plan",
    "oracle",
    "map-draft",
    "map-validate",
    "convert",
    "scaffold",
    "capture",
    "parity",
    "quantize",
    "quality",
    "bench",
    "optimize",
    "report",
    "package",
];

/// The order steps run in: the static weight-map steps come before the
/// oracle (see `steps::all`).
pub const RUN_ORDER: &[&str] = &[
    "inspect",
    "plan",
    "map-draft",
    "map-validate",
    "oracle",
    "convert",
    "scaffold",
    "capture",
    "parity",
    "quantize",
    "quality",
    "bench",
    "optimize",
    "report",
    "package",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Source {
    /// The model as given (no absolute path unless --show-paths).
    pub model: String,
    /// The inspection's tree fingerprint.
    pub fingerprint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    /// `done`, `blocked`, `failed` or `skipped`.
    pub status: String,
    pub inputs_sha256: Option<String>,
    pub seconds: f64,
    pub finished_at: String,
    pub artifacts: Vec<Artifact>,
    pub summary: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PortState {
    pub schema: String,
    pub tool: Tool,
    pub source: Source,
    pub family: Option<String>,
    pub model_type: Option<String>,
    pub target: Option<String>,
    pub dtype: String,
    /// `complete`, `stopped` or `failed`.
    pub status: String,
    pub stopped_at: Option<String>,
    pub remediation: Vec<String>,
    pub steps: Vec<StepRecord>,
}

impl PortState {
    pub fn new(model: String, dtype: &str) -> Self {
        PortState {
            schema: SCHEMA.into(),
            tool: Tool { name: "mlxport".into(), version: env!("CARGO_PKG_VERSION").into() },
            source: Source { model, fingerprint: None },
            family: None,
            model_type: None,
            target: None,
            dtype: dtype.into(),
            status: "stopped".into(),
            stopped_at: None,
            remediation: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The previous run's record, if PORT_DIR holds a readable one. An
    /// unreadable port.json is not an error: nothing is reused.
    pub fn load(dir: &Path) -> Option<PortState> {
        let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
        let s: PortState = serde_json::from_str(&text).ok()?;
        (s.schema == SCHEMA).then_some(s)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let path = dir.join(FILE);
        crate::output::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }

    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Record a step, replacing an earlier record of the same name.
    pub fn put(&mut self, rec: StepRecord) {
        self.steps.retain(|s| s.name != rec.name);
        self.steps.push(rec);
        self.steps.sort_by_key(|s| STEPS.iter().position(|n| *n == s.name).unwrap_or(usize::MAX));
    }
}

/// Hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    mlxport_util::hash::hex(&Sha256::digest(bytes))
}

/// (bytes, hex SHA-256) of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, mlxport_util::hash::hex(&h.finalize())))
}

/// Every regular file under `rel` (a file or a directory of PORT_DIR), as
/// artifacts sorted by path.
pub fn artifacts(dir: &Path, rel: &str) -> Result<Vec<Artifact>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let root = dir.join(rel);
    if root.is_dir() {
        collect(&root, &mut files)?;
    } else {
        files.push(root);
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let (bytes, sha256) = sha256_file(&f)?;
            let path = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
            Ok(Artifact { path, sha256, bytes })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        let t = e.file_type()?;
        if t.is_dir() {
            // Python's bytecode caches are not part of a package.
            if p.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            collect(&p, out)?;
        } else if t.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// Do the recorded artifacts still hold exactly these bytes?
pub fn artifacts_intact(dir: &Path, recorded: &[Artifact]) -> bool {
    !recorded.is_empty()
        && recorded.iter().all(|a| {
            let p = dir.join(&a.path);
            std::fs::metadata(&p).is_ok_and(|m| m.len() == a.bytes) && sha256_file(&p).is_ok_and(|(_, h)| h == a.sha256)
        })
}

/// The inputs hash of a step: the tool version, the step's name, and
/// whatever it reads (upstream artifact hashes, options), as canonical JSON.
pub fn inputs_hash(step: &str, inputs: &serde_json::Value) -> String {
    let v = serde_json::json!({"tool": env!("CARGO_PKG_VERSION"), "step": step, "inputs": inputs});
    sha256_bytes(v.to_string().as_bytes())
}

/// Artifact hashes of some steps of a record, for a downstream inputs hash.
pub fn upstream(state: &PortState, steps: &[&str]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for s in steps {
        let arts: Vec<serde_json::Value> =
            state.step(s).map(|r| r.artifacts.iter().map(|a| serde_json::json!([a.path, a.sha256])).collect()).unwrap_or_default();
        m.insert((*s).to_string(), serde_json::Value::Array(arts));
    }
    serde_json::Value::Object(m)
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T");
    }

    #[test]
    fn inputs_hash_changes_with_inputs() {
        let a = inputs_hash("convert", &serde_json::json!({"dtype": "keep"}));
        assert_eq!(a, inputs_hash("convert", &serde_json::json!({"dtype": "keep"})));
        assert_ne!(a, inputs_hash("convert", &serde_json::json!({"dtype": "f16"})));
        assert_ne!(a, inputs_hash("map-validate", &serde_json::json!({"dtype": "keep"})));
    }
}
