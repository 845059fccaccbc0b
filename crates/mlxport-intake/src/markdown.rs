//! The inspection as a Markdown report for people.

use std::fmt::Write;

use crate::inspect::Inspection;
use crate::risks::Finding;
use mlxport_util::human::bytes_with;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn findings(out: &mut String, title: &str, list: &[Finding]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(out, "| id | file | finding | remediation |\n|---|---|---|---|");
    for f in list {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            f.id,
            f.path.as_deref().map(|p| format!("`{}`", cell(p))).unwrap_or_default(),
            cell(&f.message),
            cell(f.remediation.as_deref().unwrap_or(""))
        );
    }
    out.push('\n');
}

/// Render the report.
pub fn to_markdown(i: &Inspection) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Inspection: {}\n", i.model.name);
    let verdict = if i.blockers.is_empty() { "no blockers" } else { "BLOCKED" };
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| verdict | **{verdict}** ({} blockers, {} warnings) |", i.blockers.len(), i.warnings.len());
    let family = i.routing.family.as_deref().unwrap_or(if i.routing.ambiguous { "ambiguous" } else { "unknown" });
    let _ = writeln!(o, "| family | {family} (confidence {}) |", i.routing.confidence.as_str());
    if let Some(p) = &i.routing.profile {
        let _ = writeln!(o, "| hybrid profile | {p} |");
    }
    if let Some(r) = &i.routing.runbook {
        let _ = writeln!(o, "| runbook | `{r}` |");
    }
    let refs = [("mlx-lm", &i.routing.references.mlx_lm), ("mlx-vlm", &i.routing.references.mlx_vlm), ("mlx-audio", &i.routing.references.mlx_audio)];
    let refs: Vec<String> = refs.iter().filter_map(|(k, v)| v.as_ref().map(|m| format!("{k} `{m}`"))).collect();
    let _ = writeln!(o, "| MLX reference | {} |", if refs.is_empty() { "none".to_string() } else { refs.join(", ") });
    if !i.routing.traits.is_empty() {
        let _ = writeln!(o, "| traits | {} |", i.routing.traits.join(", "));
    }
    if let Some(mt) = &i.facts.model_type {
        let _ = writeln!(o, "| model_type | `{mt}` |");
    }
    if !i.facts.architectures.is_empty() {
        let _ = writeln!(o, "| architectures | {} |", i.facts.architectures.join(", "));
    }
    let _ = writeln!(o, "| parameters | {} |", i.tensors.parameters);
    let _ = writeln!(o, "| tensors | {} in {} |", i.tensors.tensors, bytes_with(i.tensors.bytes, 2));
    if let Some(q) = &i.quantization {
        let mut s = q.scheme.clone();
        if let Some(b) = q.bits {
            let _ = write!(s, ", {b} bits");
        }
        if let Some(g) = q.group_size {
            let _ = write!(s, ", group {g}");
        }
        if let Some(m) = &q.mode {
            let _ = write!(s, ", {m}");
        }
        let _ = writeln!(o, "| quantization | {} |", cell(&s));
    }
    let _ = writeln!(o, "| tied embeddings | {} |", if i.tensors.tying.tied { "yes" } else { "no" });
    let _ = writeln!(
        o,
        "| license | {} ({}); redistribution: **{}** |",
        i.license.spdx.as_deref().unwrap_or("unknown"),
        i.license.class.as_str(),
        i.license.redistribution.as_str()
    );
    let _ = writeln!(o, "| fingerprint | `{}` |", i.model.fingerprint);
    let _ = writeln!(o, "| files | {} ({}) |\n", i.model.files, bytes_with(i.model.bytes, 2));

    findings(&mut o, "Blockers", &i.blockers);
    findings(&mut o, "Warnings", &i.warnings);

    let _ = writeln!(o, "## License\n\n{}\n", cell(&i.license.reason));

    let _ = writeln!(o, "## Size and fit\n");
    let _ = writeln!(o, "| precision | bits/weight | weights | fits |\n|---|---|---|---|");
    for w in &i.size.weights {
        let fits = match w.fits {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let _ = writeln!(o, "| {} | {:.2} | {} | {fits} |", w.precision, w.bits_per_weight, bytes_with(w.bytes, 2));
    }
    if let Some(kv) = &i.size.kv_cache {
        let _ = writeln!(
            o,
            "\nKV cache: {} per token ({}); {} for {} tokens.",
            bytes_with(kv.bytes_per_token, 2),
            kv.formula,
            bytes_with(kv.bytes_for_context, 2),
            kv.context
        );
    }
    if let Some(t) = i.size.target_memory_bytes {
        let _ = writeln!(o, "\nTarget memory {} (usable {}).", bytes_with(t, 2), bytes_with(i.size.usable_bytes.unwrap_or(0), 2));
    }
    for n in &i.size.notes {
        let _ = writeln!(o, "\n_{n}_");
    }
    o.push('\n');

    let _ = writeln!(o, "## Tensors by dtype\n\n| dtype | bytes |\n|---|---|");
    for (d, b) in &i.tensors.bytes_by_dtype {
        let _ = writeln!(o, "| {d} | {} |", bytes_with(*b, 2));
    }
    o.push('\n');

    let _ = writeln!(o, "## Routing evidence\n\n| signal | value | family | weight |\n|---|---|---|---|");
    for e in &i.routing.evidence {
        let _ = writeln!(o, "| {} | `{}` | {} | {} |", cell(&e.signal), cell(&e.value), e.family, e.weight);
    }
    o.push('\n');

    findings(&mut o, "Notes", &i.notes);

    let _ = writeln!(o, "## Files\n\n| file | role | size | sha256 |\n|---|---|---|---|");
    for f in &i.files {
        let _ = writeln!(o, "| `{}` | {} | {} | `{}` |", cell(&f.path), f.role, bytes_with(f.size, 2), f.sha256.as_deref().unwrap_or("-"));
    }
    o
}
