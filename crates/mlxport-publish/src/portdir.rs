//! A PORT_DIR read and verified: `port.json` (schema `mlxport.port/v1`)
//! and the artifacts the steps wrote beside it.
//!
//! Every artifact `port.json` lists must be a relative path inside the
//! directory whose SHA-256 and size match; a tampered or incomplete
//! PORT_DIR is refused with the file and the rule named. JSON artifacts are
//! read with a size bound.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use mlxport_contract::{document, PortRecord, StepRecord, Target};
use mlxport_parity::ParityFile;
use mlxport_quality::QualityReport;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{io, Error, Result};

/// Largest JSON artifact read (inspection reports of huge checkpoints stay
/// far below this).
const MAX_JSON: u64 = 256 << 20;

pub const PORT_SCHEMA: &str = mlxport_contract::port::SCHEMA;

/// The checkpoints a PORT_DIR may publish, in order of preference.
const PUBLISHED: [&str; 3] = ["optimize/chosen", "quantized", "weights"];

/// A verified PORT_DIR.
#[derive(Debug)]
pub struct PortDir {
    pub root: PathBuf,
    /// `port.json`.
    pub port: PortRecord,
    /// `inspection.json` (mlxport.inspection/v1).
    pub inspection: Value,
    /// `plan.json`, when present.
    pub plan: Option<Value>,
    /// `weight_map.json`, `map-validation.json`.
    pub weight_map: Option<Value>,
    pub map_validation: Option<Value>,
    /// The conversion manifest of the checkpoint to publish (see
    /// [`PortDir::weights_dir`]).
    pub conversion: Option<Value>,
    /// `scaffold/mlxport_scaffold.json`.
    pub scaffold: Option<Value>,
    /// Oracle and capture manifests (mlxport.capture/v1).
    pub oracle: Option<Value>,
    pub capture: Option<Value>,
    /// `parity/parity.json`: the parity step's report (mlxport.parity/v1),
    /// or a tensor comparison (mlxport.compare/v1).
    pub parity: Option<ParityFile>,
    /// `parity/parity.svg`, drawn by `compare --svg`.
    pub parity_svg: Option<String>,
    /// `quality/quality.json`; with an optimization search, the chosen
    /// candidate's gate (`optimize/quality/ID.json`).
    pub quality: Option<QualityReport>,
    /// `optimize/optimize.json` (mlxport.optimize/v1), when `port
    /// --optimize` ran.
    pub optimize: Option<Value>,
    /// `bench/*.json` receipts, by file name (sorted).
    pub bench: Vec<(String, mlxport_bench::receipt::Receipt)>,
    /// `profile/profile.json` (mlxport.profile/v1), when `mlxport profile`
    /// ran on the port.
    pub profile: Option<Value>,
    /// The source model's own card (`source/README.md`), when the inspect
    /// step kept one (and port.json lists it, so its bytes were verified).
    pub source_card: Option<String>,
}

/// SHA-256 and size of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(io(path, "cannot open"))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io(path, "read failed"))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The text of a JSON file, bounded in size; errors name the file.
pub fn read_json_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(io(path, "cannot read"))?;
    if meta.len() > MAX_JSON {
        return Err(Error::invalid(path, format!("{} bytes is beyond the {} byte limit for a JSON artifact", meta.len(), MAX_JSON)));
    }
    std::fs::read_to_string(path).map_err(io(path, "cannot read as UTF-8"))
}

/// A JSON file, bounded in size; errors name the file.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = read_json_text(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

fn optional_json(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// A versioned document read with its type, when the file exists.
fn optional_doc<T>(path: &Path, parse: impl FnOnce(&str, &Path) -> Result<T, document::DocumentError>) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(parse(&read_json_text(path)?, path)?))
}

/// A path from port.json: relative, no `..`, no root.
pub fn checked_relative(p: &str, origin: &Path) -> Result<PathBuf> {
    let path = Path::new(p);
    if p.is_empty() || path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(Error::invalid(origin, format!("artifact path '{p}' must be relative to the PORT_DIR without '..'")));
    }
    Ok(path.to_path_buf())
}

impl PortDir {
    /// Read and verify a PORT_DIR.
    pub fn open(root: &Path) -> Result<PortDir> {
        if !root.is_dir() {
            return Err(Error::invalid(root, "not a directory (expected a PORT_DIR written by `mlxport port`)"));
        }
        let port_path = root.join(mlxport_contract::port::FILE);
        if !port_path.is_file() {
            return Err(Error::invalid(root, format!("no port.json (a PORT_DIR holds port.json, schema {PORT_SCHEMA})")));
        }
        let port = PortRecord::parse(&read_json_text(&port_path)?, &port_path)?;
        verify_artifacts(root, &port, &port_path)?;
        let inspection_path = root.join("inspection.json");
        if !inspection_path.is_file() {
            return Err(Error::invalid(root, "inspection.json missing (the inspect step writes it; the license verdict comes from it)"));
        }
        let inspection = read_json(&inspection_path)?;
        if inspection.get("schema").and_then(Value::as_str) != Some("mlxport.inspection/v1") {
            return Err(Error::invalid(&inspection_path, "schema is not mlxport.inspection/v1"));
        }
        let manifest = |dir: &str, stem: &str| -> Result<Option<Value>> {
            for name in ["manifest.json".to_string(), format!("{stem}.manifest.json")] {
                if let Some(v) = optional_json(&root.join(dir).join(name))? {
                    return Ok(Some(v));
                }
            }
            Ok(None)
        };
        let mut conversion = None;
        for d in PUBLISHED {
            if root.join(d).join("config.json").is_file() {
                conversion = optional_json(&root.join(d).join("mlxport-conversion.json"))?;
                break;
            }
        }
        let optimize = optional_json(&root.join("optimize/optimize.json"))?;
        let mut quality = optional_doc(&root.join("quality/quality.json"), QualityReport::parse)?;
        if quality.is_none() {
            if let Some(id) = optimize.as_ref().and_then(|o| o.pointer("/chosen/id")).and_then(Value::as_str).filter(|id| *id != "baseline") {
                if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) && !id.starts_with('.') {
                    quality = optional_doc(&root.join("optimize/quality").join(format!("{id}.json")), QualityReport::parse)?;
                }
            }
        }
        let mut bench = Vec::new();
        if let Ok(rd) = std::fs::read_dir(root.join("bench")) {
            let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
            names.sort();
            for p in names {
                let text = read_json_text(&p)?;
                const RECEIPT: &str = "mlxport.bench-receipt/v1";
                if document::schema_of(&text, &p, RECEIPT)?.as_deref() != Some(RECEIPT) {
                    continue;
                }
                let r: mlxport_bench::receipt::Receipt = document::parse(&text, &p, &[RECEIPT])?;
                bench.push((p.file_name().unwrap_or_default().to_string_lossy().into_owned(), r));
            }
        }
        let card_path = crate::source_card::PORT_PATH;
        let source_card = if port.steps.iter().any(|s| s.artifacts.iter().any(|a| a.path == card_path)) {
            Some(std::fs::read_to_string(root.join(card_path)).map_err(io(&root.join(card_path), "cannot read as UTF-8"))?)
        } else {
            None
        };
        let parity_svg = std::fs::read_to_string(root.join("parity/parity.svg")).ok().filter(|s| s.trim_start().starts_with("<svg") && s.len() < (8 << 20));
        Ok(PortDir {
            root: root.to_path_buf(),
            inspection,
            plan: optional_json(&root.join("plan.json"))?,
            weight_map: optional_json(&root.join("weight_map.json"))?,
            map_validation: optional_json(&root.join("map-validation.json"))?,
            conversion,
            scaffold: optional_json(&root.join("scaffold/mlxport_scaffold.json"))?,
            oracle: manifest("oracle", "oracle")?,
            capture: manifest("capture", "capture")?,
            parity: optional_doc(&root.join("parity/parity.json"), ParityFile::parse)?,
            parity_svg,
            quality,
            optimize,
            bench,
            profile: optional_json(&root.join("profile/profile.json"))?,
            source_card,
            port,
        })
    }

    /// The MLX implementation the port targets (mlx-lm when port.json
    /// names none).
    pub fn target(&self) -> Target {
        self.port.target.unwrap_or(Target::MlxLm)
    }

    /// The checkpoint to publish: the optimization search's chosen one
    /// (`optimize/chosen/`), else `quantized/`, else `weights/`.
    pub fn weights_dir(&self) -> Option<PathBuf> {
        PUBLISHED.iter().map(|d| self.root.join(d)).find(|d| d.join("config.json").is_file())
    }

    /// Whether the checkpoint to publish has quantized layers.
    pub fn publishes_quantized(&self) -> bool {
        self.weights_dir().and_then(|d| read_json(&d.join("config.json")).ok()).is_some_and(|c| c.get("quantization").is_some_and(Value::is_object))
    }

    /// The step record of a name.
    pub fn step(&self, name: mlxport_contract::Step) -> Option<&StepRecord> {
        self.port.step(name)
    }

    /// The source's tree fingerprint: port.json, else the inspection.
    pub fn fingerprint(&self) -> Option<&str> {
        self.port.source.fingerprint.as_deref().or_else(|| self.inspection.pointer("/model/fingerprint").and_then(Value::as_str))
    }

    /// The architecture family: port.json, else the inspection's routing.
    pub fn family(&self) -> Option<&str> {
        self.port.family.map(|f| f.as_str()).or_else(|| self.inspection.pointer("/routing/family").and_then(Value::as_str))
    }
}

fn verify_artifacts(root: &Path, port: &PortRecord, origin: &Path) -> Result<()> {
    for step in &port.steps {
        let name = step.name;
        for a in &step.artifacts {
            let p = a.path.as_str();
            let rel = checked_relative(p, origin)?;
            let full = root.join(&rel);
            if full.is_dir() {
                continue;
            }
            if !full.is_file() {
                return Err(Error::invalid(origin, format!("artifact {p} of step '{name}' is missing")));
            }
            let (got, bytes) = sha256_file(&full)?;
            if got != a.sha256 {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "artifact {p} of step '{name}' does not match its recorded SHA-256 (recorded {}, found {got}); the PORT_DIR was changed after the step ran",
                        a.sha256
                    ),
                ));
            }
            if a.bytes != bytes {
                return Err(Error::invalid(origin, format!("artifact {p} of step '{name}' is {bytes} bytes, port.json records {}", a.bytes)));
            }
        }
    }
    Ok(())
}
