//! Reports for people: Markdown, and an SVG chart of error and cosine by
//! rung (written here, no plotting library).

use std::fmt::Write;

use crate::compare::{PairReport, Status};
use crate::report::{LadderReport, Report};

/// A number in a short, stable form (`-` when absent).
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.is_nan() => "NaN".into(),
        Some(x) if x.is_infinite() => if x > 0.0 { "inf" } else { "-inf" }.into(),
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e4 || x.abs() < 1e-3 => format!("{x:.3e}"),
        Some(x) => format!("{x:.6}").trim_end_matches('0').trim_end_matches('.').to_string(),
    }
}

/// A cosine, showing how close to 1 it is.
pub fn cos(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() && x > 0.999 && x < 1.0 => format!("1-{:.2e}", 1.0 - x),
        other => num(other),
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One line per pair: the cells of the terminal and Markdown tables.
pub fn pair_cells(p: &PairReport) -> Vec<String> {
    let (max_abs, mean_abs, rmse, max_rel, cosine, ulp, nonfinite, viol) = match (&p.float, &p.exact) {
        (Some(f), _) => (
            num(f.max_abs),
            num(f.mean_abs),
            num(f.rmse),
            num(f.max_rel),
            cos(f.cosine),
            f.max_ulp.map(|u| u.to_string()).unwrap_or("-".into()),
            (f.nonfinite_a.nan + f.nonfinite_a.inf + f.nonfinite_b.nan + f.nonfinite_b.inf).to_string(),
            f.allclose.violations.to_string(),
        ),
        (_, Some(e)) => (e.max_abs.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into(), "0".into(), e.mismatches.to_string()),
        _ => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
    };
    let dtype = if p.dtype_a == p.dtype_b { p.dtype_a.clone() } else { format!("{}/{}", p.dtype_a, p.dtype_b) };
    let shape = if p.shape_a == p.shape_b { format!("{:?}", p.shape_a) } else { format!("{:?}/{:?}", p.shape_a, p.shape_b) };
    vec![p.name.clone(), dtype, shape, max_abs, mean_abs, rmse, max_rel, cosine, ulp, nonfinite, viol, status(p.status).to_string()]
}

pub const PAIR_HEADER: [&str; 12] = ["tensor", "dtype", "shape", "max abs", "mean abs", "rmse", "max rel", "cosine", "ulp", "nan/inf", "violations", "status"];
pub const RUNG_HEADER: [&str; 9] = ["#", "rung", "stage", "max abs", "atol", "max rel", "cosine", "nan/inf", "status"];

/// The cells of a rung row.
pub fn rung_cells(r: &crate::report::RungReport) -> Vec<String> {
    vec![
        r.index.to_string(),
        r.name.clone(),
        r.stage.to_string(),
        num(r.max_abs),
        num(r.atol),
        num(r.max_rel),
        cos(r.cosine),
        r.nonfinite.to_string(),
        match r.status {
            crate::report::RungStatus::Fail => "FAIL".into(),
            s => s.to_string(),
        },
    ]
}

fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}|", header.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.iter().map(|c| md_escape(c)).collect::<Vec<_>>().join(" | "));
    }
}

/// The report as Markdown. `chart` names an SVG file to embed.
pub fn markdown(r: &Report, chart: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Tensor comparison\n");
    let _ = writeln!(out, "- A: `{}` ({}, {} tensors)", r.a.path, r.a.format, r.a.tensors);
    let _ = writeln!(out, "- B (reference): `{}` ({}, {} tensors)", r.b.path, r.b.format, r.b.tensors);
    let _ = writeln!(
        out,
        "- Result: **{}** — {} pairs, {} passed, {} failed, {} errors; unmatched: {} in A, {} in B\n",
        status(r.status),
        r.summary.pairs,
        r.summary.passed,
        r.summary.failed,
        r.summary.errors,
        r.summary.unmatched_a,
        r.summary.unmatched_b
    );
    if let Some(l) = &r.ladder {
        ladder_markdown(&mut out, l, chart);
    }
    let _ = writeln!(out, "## Pairs\n");
    let rows: Vec<Vec<String>> = r.pairs.iter().map(pair_cells).collect();
    md_table(&mut out, &PAIR_HEADER, &rows);
    let failing: Vec<&PairReport> = r.pairs.iter().filter(|p| !p.failures.is_empty() || !p.notes.is_empty()).collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\n## Details\n");
        for p in failing {
            let _ = writeln!(out, "- `{}`", p.name);
            for f in &p.failures {
                let _ = writeln!(out, "  - FAIL: {}", md_escape(f));
            }
            for n in &p.notes {
                let _ = writeln!(out, "  - note: {}", md_escape(n));
            }
        }
    }
    let logits: Vec<&PairReport> = r.pairs.iter().filter(|p| p.logits.is_some()).collect();
    if !logits.is_empty() {
        let _ = writeln!(out, "\n## Logits\n");
        let rows: Vec<Vec<String>> = logits
            .iter()
            .filter_map(|p| p.logits.as_ref().map(|l| (p, l)))
            .map(|(p, l)| {
                vec![
                    p.name.clone(),
                    l.positions.to_string(),
                    format!("{:.4}", l.top1_agreement),
                    format!("{:.4}", l.topk_overlap_mean),
                    num(l.kl_ab_mean),
                    num(l.kl_ab_max),
                    num(l.kl_ba_mean),
                    num(l.kl_ba_max),
                    num(l.max_prob_diff),
                ]
            })
            .collect();
        md_table(
            &mut out,
            &["tensor", "positions", "top-1 agreement", "top-k overlap", "KL(A‖B) mean", "KL(A‖B) max", "KL(B‖A) mean", "KL(B‖A) max", "max Δp"],
            &rows,
        );
    }
    if !r.unmatched_a.is_empty() || !r.unmatched_b.is_empty() {
        let _ = writeln!(out, "\n## Unmatched names\n");
        for n in &r.unmatched_a {
            let _ = writeln!(out, "- only in A: `{n}`");
        }
        for n in &r.unmatched_b {
            let _ = writeln!(out, "- only in B: `{n}`");
        }
    }
    out
}

fn ladder_markdown(out: &mut String, l: &LadderReport, chart: Option<&str>) {
    let _ = writeln!(out, "## Parity ladder ({} rungs, {})\n", l.rungs.len(), l.source);
    match &l.first_divergence {
        Some(f) => {
            let _ = writeln!(out, "First divergence: rung {} **{}** (stage `{}`, hint `{}`)\n", f.rung, f.name, f.stage, f.hint);
        }
        None => {
            let _ = writeln!(out, "No divergence: every rung within tolerance.\n");
        }
    }
    if let Some(c) = chart {
        let _ = writeln!(out, "![error and cosine by rung]({c})\n");
    }
    let rows: Vec<Vec<String>> = l.rungs.iter().map(rung_cells).collect();
    md_table(out, &RUNG_HEADER, &rows);
    for r in l.rungs.iter().filter(|r| r.hint.is_some()) {
        let Some(h) = &r.hint else { continue };
        let _ = writeln!(out, "\n### Rung {} `{}`: {} (`{}`)\n", r.index, md_escape(&r.name), h.title, h.id);
        for f in &r.failures {
            let _ = writeln!(out, "- {}", md_escape(f));
        }
        let _ = writeln!(out, "\nLikely causes:\n");
        for c in &h.causes {
            let _ = writeln!(out, "- {c}");
        }
        for s in &h.symptoms {
            let _ = writeln!(out, "\n{} (`{}`):\n", s.title, s.id);
            for c in &s.causes {
                let _ = writeln!(out, "- {c}");
            }
        }
        if !h.checks.is_empty() {
            let _ = writeln!(out, "\nChecks: {}", h.checks.join("; "));
        }
    }
    let _ = writeln!(out);
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG chart of a ladder: max abs error by rung on a log scale (with
/// each rung's absolute tolerance dashed) above, cosine below. Failing
/// rungs are red, skipped ones grey.
pub fn svg(l: &LadderReport) -> String {
    let n = l.rungs.len().max(1);
    let (left, right, top, plot_h, gap, bottom) = (70.0, 90.0, 30.0, 180.0, 50.0, 90.0);
    let step = (640.0 / n as f64).clamp(18.0, 60.0);
    let width = left + right + step * n as f64;
    let height = top + plot_h * 2.0 + gap + bottom;
    let x = |i: usize| left + step * (i as f64 + 0.5);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Error panel: log10 range from the data, at least 2 decades.
    let logs: Vec<f64> = l.rungs.iter().flat_map(|r| [r.max_abs, r.atol]).flatten().filter(|v| *v > 0.0 && v.is_finite()).map(f64::log10).collect();
    let (mut lo, mut hi) = logs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (-8.0, 0.0);
    }
    let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 2.0));
    let y_err = |v: f64| top + plot_h * (1.0 - (v.log10().clamp(lo, hi) - lo) / (hi - lo));
    let _ = writeln!(s, r#"<text x="{left}" y="{}" font-weight="bold">max abs error (log scale), tolerance dashed</text>"#, top - 10.0);
    let _ = writeln!(s, r##"<rect x="{left}" y="{top}" width="{:.1}" height="{plot_h}" fill="none" stroke="#999"/>"##, step * n as f64);
    let mut d = lo as i64;
    while d as f64 <= hi {
        let y = y_err(10f64.powi(d as i32));
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">1e{d}</text>"##,
            left + step * n as f64,
            left - 5.0,
            y + 4.0
        );
        d += 1;
    }
    let color = |st: crate::report::RungStatus| match st {
        crate::report::RungStatus::Fail => "#d62728",
        crate::report::RungStatus::Pass => "#2ca02c",
        crate::report::RungStatus::Skipped => "#aaaaaa",
    };
    let mut path = String::new();
    for (i, r) in l.rungs.iter().enumerate() {
        if let Some(v) = r.max_abs.filter(|v| v.is_finite()) {
            let y = if v > 0.0 { y_err(v) } else { top + plot_h };
            let _ = write!(path, "{}{:.1},{y:.1} ", if path.is_empty() { "M" } else { "L" }, x(i));
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="4" fill="{}"><title>{}: {}</title></circle>"#,
                x(i),
                color(r.status),
                xml(&r.name),
                num(Some(v))
            );
        } else if r.max_abs.is_some() {
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{}">∞</text>"#, x(i), top + 12.0, color(r.status));
        }
        if let Some(t) = r.atol.filter(|t| *t > 0.0 && t.is_finite()) {
            let y = y_err(t);
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#555" stroke-dasharray="3,2"/>"##,
                x(i) - step * 0.4,
                x(i) + step * 0.4
            );
        }
    }
    if !path.is_empty() {
        let _ = writeln!(s, r##"<path d="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>"##, path.trim_end());
    }
    // Cosine panel: linear, from a little below the smallest cosine to 1.
    let top2 = top + plot_h + gap;
    let smallest = l.rungs.iter().filter_map(|r| r.cosine).filter(|c| c.is_finite()).fold(1.0f64, f64::min);
    let cmin = (smallest - 0.1 * (1.0 - smallest)).clamp(-1.0, 1.0 - 1e-6);
    let y_cos = |c: f64| top2 + plot_h * (1.0 - (c.clamp(cmin, 1.0) - cmin) / (1.0 - cmin));
    let _ = writeln!(s, r#"<text x="{left}" y="{}" font-weight="bold">cosine similarity</text>"#, top2 - 10.0);
    let _ = writeln!(s, r##"<rect x="{left}" y="{top2}" width="{:.1}" height="{plot_h}" fill="none" stroke="#999"/>"##, step * n as f64);
    for t in [cmin, (cmin + 1.0) / 2.0, 1.0] {
        let y = y_cos(t);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + step * n as f64,
            left - 5.0,
            y + 4.0,
            cos(Some(t))
        );
    }
    let mut path = String::new();
    for (i, r) in l.rungs.iter().enumerate() {
        if let Some(c) = r.cosine.filter(|c| c.is_finite()) {
            let y = y_cos(c);
            let _ = write!(path, "{}{:.1},{y:.1} ", if path.is_empty() { "M" } else { "L" }, x(i));
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="4" fill="{}"><title>{}: {}</title></circle>"#,
                x(i),
                color(r.status),
                xml(&r.name),
                cos(Some(c))
            );
        }
    }
    if !path.is_empty() {
        let _ = writeln!(s, r##"<path d="{}" fill="none" stroke="#ff7f0e" stroke-width="1.5"/>"##, path.trim_end());
    }
    // Rung labels and the first divergence.
    let base = top2 + plot_h + 12.0;
    for (i, r) in l.rungs.iter().enumerate() {
        let _ = writeln!(s, r#"<text transform="translate({:.1},{base:.1}) rotate(45)" fill="{}">{}</text>"#, x(i) - 3.0, color(r.status), xml(&r.name));
    }
    if let Some(f) = &l.first_divergence {
        let xi = x(f.rung);
        let _ = writeln!(s, r##"<line x1="{xi:.1}" x2="{xi:.1}" y1="{top}" y2="{:.1}" stroke="#d62728" stroke-dasharray="4,3"/>"##, top2 + plot_h);
        let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" fill="#d62728">first divergence: {} ({})</text>"##, left, height - 8.0, xml(&f.name), xml(&f.hint));
    }
    s.push_str("</svg>\n");
    s
}
