//! The inspection's license verdict enforced before anything is packaged.
//!
//! Permissive and copyleft terms that allow redistribution pass. Restricted
//! or unknown terms, and any verdict whose redistribution is `no` or
//! `unknown`, need the user's explicit `--accept-license`; the terms are
//! then carried into the model card word for word from the verdict.

use serde_json::Value;

use crate::Error;

/// The license as the card states it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct License {
    /// Hub license id (`apache-2.0`, `cc-by-nc-4.0`, `other`), if any.
    pub id: Option<String>,
    pub name: Option<String>,
    pub class: String,
    pub redistribution: String,
    pub reason: String,
    pub conditions: Vec<String>,
    /// Needed `--accept-license`, and got it.
    pub accepted: bool,
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Read the verdict from `inspection.json` and enforce it.
/// A license that needs acceptance without it is [`Error::Refused`].
pub fn gate(inspection: &Value, accept: bool) -> Result<License, Error> {
    let l = &inspection["license"];
    if !l.is_object() {
        return Err(Error::Refused("inspection.json has no license verdict; re-run `mlxport inspect` (mlxport.inspection/v1 carries one)".into()));
    }
    let class = s(&l["class"]).unwrap_or_else(|| "unknown".into());
    let redistribution = s(&l["redistribution"]).unwrap_or_else(|| "unknown".into());
    let needs = l["requires_acceptance"].as_bool().unwrap_or(true)
        || matches!(class.as_str(), "restricted" | "unknown")
        || matches!(redistribution.as_str(), "no" | "unknown");
    let lic = License {
        id: s(&l["spdx"]),
        name: s(&l["name"]),
        class,
        redistribution,
        reason: s(&l["reason"]).unwrap_or_default(),
        conditions: l["conditions"].as_array().map(|a| a.iter().filter_map(s).collect()).unwrap_or_default(),
        accepted: needs && accept,
    };
    if needs && !accept {
        let what = lic.id.clone().unwrap_or_else(|| "no license".into());
        let mut msg = format!(
            "refusing to package: the source's license ({what}, {}, redistribution: {}) needs your acceptance: {}",
            lic.class, lic.redistribution, lic.reason
        );
        for c in &lic.conditions {
            msg.push_str(&format!("\n  - {c}"));
        }
        msg.push_str("\nIf you hold the rights these terms require, run again with --accept-license; the terms are then written into the model card.");
        return Err(Error::Refused(msg));
    }
    Ok(lic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissive_passes_restricted_needs_acceptance() {
        let ok = serde_json::json!({"license": {"spdx": "apache-2.0", "class": "permissive", "redistribution": "yes", "requires_acceptance": false, "conditions": []}});
        assert!(!gate(&ok, false).unwrap().accepted);
        let nc = serde_json::json!({"license": {"spdx": "cc-by-nc-nd-4.0", "class": "restricted", "redistribution": "no", "reason": "no derivatives", "requires_acceptance": true, "conditions": ["non-commercial use only"]}});
        let Err(Error::Refused(e)) = gate(&nc, false) else { panic!("refused") };
        assert!(e.contains("cc-by-nc-nd-4.0") && e.contains("--accept-license") && e.contains("non-commercial use only"), "{e}");
        assert!(gate(&nc, true).unwrap().accepted);
        // A verdict that says redistribution is unknown needs acceptance even
        // if its flag were missing.
        let unk = serde_json::json!({"license": {"class": "permissive", "redistribution": "unknown", "requires_acceptance": false}});
        assert!(gate(&unk, false).is_err());
        assert!(gate(&serde_json::json!({}), true).is_err());
    }
}
