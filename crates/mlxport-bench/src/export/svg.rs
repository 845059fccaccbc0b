//! An SVG chart of every run's measurement in the order the runs happened,
//! one colour per benchmark, with each median as a dashed line. Written by
//! hand: no plotting dependency.

use std::fmt::Write;

use super::Export;
use crate::receipt::{fmt_value, Receipt};

pub struct Svg;

const W: f64 = 760.0;
const H: f64 = 380.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

impl Export for Svg {
    fn name(&self) -> &'static str {
        "svg"
    }
    fn render(&self, r: &Receipt) -> String {
        let rows = crate::generate::rows(r);
        if !rows.is_empty() {
            return throughput_by_prompt(r, &rows);
        }
        let unit = r.benchmarks.first().map(|b| b.metric.unit.clone()).unwrap_or_else(|| "s".into());
        let metric = r.benchmarks.first().map(|b| b.metric.name.clone()).unwrap_or_default();
        let series: Vec<Vec<f64>> = r.benchmarks.iter().map(|b| crate::receipt::metric_values(&b.runs, &b.metric.name).unwrap_or_default()).collect();
        let all: Vec<f64> = series.iter().flatten().copied().collect();
        let (mut lo, mut hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let ticks = nice_ticks(lo, hi, 5);
        let (y0, y1) = (ticks[0].min(lo), ticks[ticks.len() - 1].max(hi));
        let n = series.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let x = |i: usize| LEFT + if n == 1 { pw / 2.0 } else { pw * i as f64 / (n - 1) as f64 };
        let y = |v: f64| TOP + ph - if y1 > y0 { ph * (v - y0) / (y1 - y0) } else { ph / 2.0 };

        let mut s = String::new();
        let _ =
            writeln!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#);
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
            W / 2.0,
            esc(&format!("{} — {} per run", r.workload.name, if metric == "wall_s" { "wall time" } else { metric.as_str() }))
        );
        for t in &ticks {
            let ty = y(*t);
            let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#e0e0e0"/>"##, W - RIGHT);
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, ty + 4.0, esc(&fmt_value(*t, &unit)));
        }
        let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#, TOP + ph);
        let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#, TOP + ph, W - RIGHT, TOP + ph);
        for i in x_ticks(n) {
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, x(i), TOP + ph + 16.0, i + 1);
        }
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">run</text>"#, LEFT + pw / 2.0, TOP + ph + 32.0);
        for (k, (b, vals)) in r.benchmarks.iter().zip(&series).enumerate() {
            let color = COLORS[k % COLORS.len()];
            let my = y(b.stats.median);
            let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="{color}" stroke-dasharray="6 4" opacity="0.8"/>"#, W - RIGHT);
            let points: Vec<String> = vals.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
            let _ = writeln!(s, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1" opacity="0.5"/>"#, points.join(" "));
            for (i, v) in vals.iter().enumerate() {
                let outlier = b.outliers.iter().any(|o| o.run == i);
                let (rad, fill) = if outlier { (5.0, "white") } else { (3.0, color) };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{rad}" fill="{fill}" stroke="{color}"><title>run {}: {}{}</title></circle>"#,
                    x(i),
                    y(*v),
                    i + 1,
                    esc(&fmt_value(*v, &unit)),
                    if outlier { " (outlier)" } else { "" }
                );
            }
            let ly = H - 22.0 + 0.0 * k as f64;
            let lx = LEFT + k as f64 * (pw / r.benchmarks.len().max(1) as f64);
            let _ = writeln!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"/>"#, lx, ly - 4.0);
            let label = format!("{} (median {})", truncate(&b.label, 40), fmt_value(b.stats.median, &unit));
            let _ = writeln!(s, r#"<text x="{:.1}" y="{ly:.1}">{}</text>"#, lx + 10.0, esc(&label));
        }
        if let Some(c) = &r.comparison {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
                W / 2.0,
                TOP - 12.0,
                esc(&format!("candidate/baseline {:.3} [{:.3}, {:.3}]: {}", c.ratio, c.ratio_ci.low, c.ratio_ci.high, c.verdict.as_str()))
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A generation receipt: median prefill and decode throughput (tokens/s)
/// against prompt length, on a shared axis.
fn throughput_by_prompt(r: &Receipt, rows: &[crate::generate::Row]) -> String {
    let series: [(&str, Vec<f64>); 2] =
        [("prefill", rows.iter().map(|g| g.prefill_tokens_per_s).collect()), ("decode", rows.iter().map(|g| g.decode_tokens_per_s).collect())];
    let all: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).collect();
    let hi = all.iter().copied().fold(0.0, f64::max);
    let ticks = nice_ticks(0.0, if hi > 0.0 { hi } else { 1.0 }, 5);
    let (y0, y1) = (ticks[0].min(0.0), ticks[ticks.len() - 1].max(hi));
    let n = rows.len();
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    // Prompt lengths are evenly spaced by rank (they usually grow geometrically).
    let x = |i: usize| LEFT + if n == 1 { pw / 2.0 } else { pw * (0.05 + 0.9 * i as f64 / (n - 1) as f64) };
    let y = |v: f64| TOP + ph - if y1 > y0 { ph * (v - y0) / (y1 - y0) } else { ph / 2.0 };
    let mut s = String::new();
    let _ = writeln!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#);
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        esc(&format!("{} — median throughput by prompt length", truncate(&r.workload.name, 60)))
    );
    for t in &ticks {
        let ty = y(*t);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#e0e0e0"/>"##, W - RIGHT);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, ty + 4.0, esc(&format!("{t}")));
    }
    let _ = writeln!(s, r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">tokens/s</text>"#, TOP + ph / 2.0, TOP + ph / 2.0);
    let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#, TOP + ph);
    let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#, TOP + ph, W - RIGHT, TOP + ph);
    for (i, g) in rows.iter().enumerate() {
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, x(i), TOP + ph + 16.0, g.prompt_tokens);
    }
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">prompt tokens</text>"#, LEFT + pw / 2.0, TOP + ph + 32.0);
    for (k, (name, vals)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> = vals.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = writeln!(s, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#, points.join(" "));
        for (i, v) in vals.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{name}, prompt {}: {v:.2} tokens/s</title></circle>"#,
                x(i),
                y(*v),
                rows[i].prompt_tokens
            );
        }
        let (lx, ly) = (LEFT + k as f64 * pw / 2.0, H - 22.0);
        let _ = writeln!(s, r#"<circle cx="{lx:.1}" cy="{:.1}" r="4" fill="{color}"/>"#, ly - 4.0);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{ly:.1}">{name} (tokens/s, median of runs)</text>"#, lx + 10.0);
    }
    s.push_str("</svg>\n");
    s
}

/// About `want` round tick values covering `lo..hi`.
fn nice_ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    let span = if hi > lo { hi - lo } else { lo.abs().max(1e-9) * 0.1 };
    let raw = span / want as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= want as f64).unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let mut t = Vec::new();
    loop {
        let v = start + step * t.len() as f64;
        t.push(v);
        if (v >= hi - step * 1e-9 && t.len() >= 2) || t.len() > 50 {
            break t;
        }
    }
}

fn x_ticks(n: usize) -> Vec<usize> {
    let step = (n as f64 / 10.0).ceil().max(1.0) as usize;
    let mut v: Vec<usize> = (0..n).step_by(step).collect();
    if v.last() != Some(&(n - 1)) {
        v.push(n - 1);
    }
    v
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range() {
        let t = nice_ticks(0.0987, 0.1312, 5);
        assert!(t[0] <= 0.0987 && *t.last().unwrap() >= 0.1312, "{t:?}");
        assert!(t.len() <= 8);
        assert!(nice_ticks(1.0, 1.0, 5).len() >= 2);
        assert_eq!(x_ticks(1), vec![0]);
        assert_eq!(x_ticks(25), vec![0, 3, 6, 9, 12, 15, 18, 21, 24]);
    }
}
