//! A Markdown report: one table row per benchmark, the verdict, the
//! environment and the warnings.

use std::fmt::Write;

use super::Export;
use crate::receipt::{fmt_value, Receipt};

pub struct Markdown;

impl Export for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }
    fn render(&self, r: &Receipt) -> String {
        let mut s = String::new();
        let level = r.settings.bootstrap.level * 100.0;
        let _ = writeln!(s, "## Benchmark: {}\n", cell(&r.workload.name));
        let _ = writeln!(s, "| Command | Runs | Median [{level:.0}% CI] | Mean ± σ | Min | Max | p95 | MAD | User | System | Peak RSS | Outliers |");
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for b in &r.benchmarks {
            let u = &b.metric.unit;
            let st = &b.stats;
            let sd = st.stddev.map(|x| fmt_value(x, u)).unwrap_or_else(|| "–".into());
            let role = match b.role {
                crate::receipt::Role::Single => String::new(),
                other => format!("{} ", serde_json::to_value(other).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
            };
            let rss = format!("{}{}", if b.resources.max_rss_at_floor { "≤ " } else { "" }, mib(b.resources.max_rss_bytes_max));
            let _ = writeln!(
                s,
                "| {role}`{}` | {} | {} [{}, {}] | {} ± {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&b.label),
                st.n,
                fmt_value(st.median, u),
                fmt_value(st.median_ci.low, u),
                fmt_value(st.median_ci.high, u),
                fmt_value(st.mean, u),
                sd,
                fmt_value(st.min, u),
                fmt_value(st.max, u),
                fmt_value(st.p95, u),
                fmt_value(st.mad, u),
                fmt_value(b.resources.user_s_median, "s"),
                fmt_value(b.resources.system_s_median, "s"),
                rss,
                b.outliers.len()
            );
        }
        if let Some(c) = &r.comparison {
            let _ = writeln!(
                s,
                "\n**Verdict: {}.** Candidate / baseline = {:.3} ({level:.0}% CI {:.3}..{:.3}, median of {} interleaved pairs); the candidate is {:.3}x as fast ({:.3}..{:.3}). Differences under {:.0}% are not reported.",
                c.verdict.as_str(),
                c.ratio,
                c.ratio_ci.low,
                c.ratio_ci.high,
                c.pairs,
                c.improvement,
                c.improvement_ci.low,
                c.improvement_ci.high,
                c.min_effect * 100.0
            );
        }
        let rows = crate::generate::rows(r);
        if !rows.is_empty() {
            let _ = writeln!(s, "\n### Generation by prompt length\n\nMedians over the runs (latency percentiles: the median of each run's percentile; memory: MLX's own counters, largest over the runs).\n");
            let _ = writeln!(
                s,
                "| Prompt tokens | Runs | Time to first token | Prefill | Decode | Token latency p50 / p90 / p99 | MLX peak memory | MLX active memory |"
            );
            let _ = writeln!(s, "|--:|--:|--:|--:|--:|--:|--:|--:|");
            for g in &rows {
                let lat = |x: Option<f64>| x.map(|v| fmt_value(v, "s")).unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.1} tokens/s | {:.2} tokens/s | {} / {} / {} | {} | {} |",
                    g.prompt_tokens,
                    g.runs,
                    fmt_value(g.ttft_s, "s"),
                    g.prefill_tokens_per_s,
                    g.decode_tokens_per_s,
                    lat(g.token_latency_p50_s),
                    lat(g.token_latency_p90_s),
                    lat(g.token_latency_p99_s),
                    mib(g.peak_memory_bytes as u64),
                    mib(g.active_memory_bytes as u64)
                );
            }
        }
        if let Some(g) = &r.quality_gate {
            let _ = writeln!(s, "\nQuality gate: **{}** (`{}`, {})", if g.passed { "passed" } else { "failed" }, cell(&g.file), g.sha256);
        }
        let e = &r.environment;
        let _ = writeln!(s, "\n### Environment\n");
        let _ = writeln!(
            s,
            "- CPU: {} ({} logical cores{})",
            e.cpu_model.as_deref().unwrap_or("unknown"),
            e.logical_cores,
            e.physical_cores.map(|p| format!(", {p} physical")).unwrap_or_default()
        );
        if let Some(m) = e.memory_bytes {
            let _ = writeln!(s, "- Memory: {:.1} GiB", m as f64 / (1u64 << 30) as f64);
        }
        let _ = writeln!(s, "- OS: {} ({}, kernel {})", e.os_version.as_deref().unwrap_or(&e.os), e.arch, e.kernel.as_deref().unwrap_or("unknown"));
        if let Some(a) = &e.apple {
            let _ = writeln!(
                s,
                "- Apple: {} macOS {} ({} P + {} E cores)",
                a.chip.as_deref().unwrap_or("?"),
                a.macos_version.as_deref().unwrap_or("?"),
                a.performance_cores.unwrap_or(0),
                a.efficiency_cores.unwrap_or(0)
            );
        }
        if let Some(p) = &e.python {
            let _ = writeln!(s, "- Python {}, MLX {}, mlx-lm {}", p.python, p.mlx.as_deref().unwrap_or("absent"), p.mlx_lm.as_deref().unwrap_or("absent"));
        }
        if let Some(c) = &r.source.git_commit {
            let _ = writeln!(s, "- Source: {c}{}", if r.source.dirty == Some(true) { " (with uncommitted changes)" } else { "" });
        }
        let _ = writeln!(s, "- Environment hash: `{}`; workload hash: `{}`", e.hash, r.workload.hash);
        if let Some(f) = &r.model_fingerprint {
            let _ = writeln!(s, "- Model: `{}`", cell(f));
        }
        if !r.warnings.is_empty() {
            let _ = writeln!(s, "\n### Warnings\n");
            for w in &r.warnings {
                let _ = writeln!(s, "- {}", w.replace('\n', " "));
            }
        }
        s
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}
