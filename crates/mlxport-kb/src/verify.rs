//! Re-verify an inspection report against the model's files before
//! trusting it: recompute the tree fingerprint (through intake, so the
//! digest cache makes it cheap), re-derive the family and the blockers, and
//! list every difference. A report whose family was swapped, whose blocker
//! was removed or whose fingerprint was forged does not survive this.

use std::collections::BTreeMap;
use std::path::Path;

use mlxport_intake::inspect::{inspect, Options};
use serde::Serialize;

use crate::view::InspectionView;

/// The outcome of a re-verification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// The fingerprint recomputed from the files.
    pub fingerprint: String,
    /// Every way the report disagrees with the files (empty: verified).
    pub mismatches: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

fn count_ids<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for id in ids {
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

/// Inspect `root` again and compare with `report`. `digest_cache` as in
/// [`Options::digest_cache`] (`None`: hash everything).
/// Only a failed re-inspection is an error
/// ([`Error::Intake`](crate::Error::Intake)); differences are mismatches.
pub fn verify(report: &InspectionView, root: &Path, digest_cache: Option<std::path::PathBuf>) -> crate::Result<Verification> {
    let opts = Options { context: report.size.kv_cache.as_ref().map(|k| k.context).unwrap_or(4096), digest_cache, ..Options::default() };
    let fresh = inspect(root, &opts)?;
    let mut mismatches = Vec::new();
    if fresh.model.fingerprint != report.model.fingerprint {
        mismatches.push(format!(
            "fingerprint: the report says {} but the files hash to {} (the files changed, this is another model, or the report was edited)",
            report.model.fingerprint, fresh.model.fingerprint
        ));
    }
    if fresh.routing.family != report.routing.family {
        mismatches.push(format!(
            "family: the report says {} but the files route to {}",
            report.routing.family.as_deref().unwrap_or("none"),
            fresh.routing.family.as_deref().unwrap_or("none")
        ));
    }
    if fresh.routing.profile != report.routing.profile {
        mismatches.push(format!(
            "hybrid profile: the report says {} but the files give {}",
            report.routing.profile.as_deref().unwrap_or("none"),
            fresh.routing.profile.as_deref().unwrap_or("none")
        ));
    }
    let want = count_ids(fresh.blockers.iter().map(|b| b.id.as_str()));
    let have = count_ids(report.blockers.iter().map(|b| b.id.as_str()));
    for (id, n) in &want {
        let h = have.get(id).copied().unwrap_or(0);
        if h < *n {
            mismatches.push(format!("blocker '{id}' is missing from the report ({h} of {n})"));
        }
    }
    for (id, n) in &have {
        if want.get(id).copied().unwrap_or(0) < *n {
            mismatches.push(format!("blocker '{id}' in the report is not found in the files"));
        }
    }
    if fresh.tensors.parameters != report.tensors.parameters {
        mismatches.push(format!("parameters: the report says {} but the files hold {}", report.tensors.parameters, fresh.tensors.parameters));
    }
    if fresh.tensors.tying.tied != report.tensors.tying.tied {
        mismatches.push(format!("tied weights: the report says {} but the files say {}", report.tensors.tying.tied, fresh.tensors.tying.tied));
    }
    if fresh.license.class.as_str() != report.license.class {
        mismatches.push(format!("license class: the report says {} but the files say {}", report.license.class, fresh.license.class.as_str()));
    }
    Ok(Verification { fingerprint: fresh.model.fingerprint, mismatches })
}
