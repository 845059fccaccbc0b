//! `mlxport tensors`: one row per tensor, optionally with statistics.

use std::path::Path;

use anyhow::{Context, Result};
use mlxport_tensor::stats::Stats;
use mlxport_tensor::{Encoding, TensorSource};
use serde::Serialize;

use crate::cli::TensorsArgs;
use crate::output::{human_bytes, human_count, Progress, Table};

#[derive(Serialize)]
struct Row {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    parameters: u64,
    bytes: u64,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats_error: Option<String>,
}

#[derive(Serialize)]
struct Source {
    path: String,
    format: &'static str,
    tensors: usize,
    parameters: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct Report {
    schema: &'static str,
    sources: Vec<Source>,
    tensors: Vec<Row>,
    total_tensors: usize,
    total_parameters: u64,
    total_bytes: u64,
}

pub fn run(args: TensorsArgs) -> Result<u8> {
    let filter = args.filter.as_deref().map(regex::Regex::new).transpose().context("--filter is not a valid regular expression")?;
    let paths = if args.paths.is_empty() { vec![mlxport_workflow::examples::minilm()?] } else { args.paths.clone() };

    let mut sources = Vec::new();
    let mut rows = Vec::new();
    for path in &paths {
        let src = mlxport_tensor::open(path)?;
        let picked: Vec<_> = src.tensors().iter().filter(|t| filter.as_ref().is_none_or(|re| re.is_match(&t.name))).cloned().collect();
        let stats: Vec<Option<Result<Stats, String>>> = if args.stats {
            let total: u64 = picked.iter().map(|t| t.nbytes).sum();
            let progress = Progress::bytes(total, "stats");
            let out = picked
                .iter()
                .map(|t| {
                    let r = tensor_stats(src.as_ref(), &t.name, &t.encoding);
                    progress.inc(t.nbytes);
                    Some(r)
                })
                .collect();
            progress.finish();
            out
        } else {
            picked.iter().map(|_| None).collect()
        };
        sources.push(Source {
            path: path.display().to_string(),
            format: src.format().name(),
            tensors: picked.len(),
            parameters: picked.iter().map(|t| t.numel()).sum(),
            bytes: picked.iter().map(|t| t.nbytes).sum(),
        });
        for (t, st) in picked.into_iter().zip(stats) {
            let (stats, stats_error) = match st {
                None => (None, None),
                Some(Ok(s)) => (Some(s), None),
                Some(Err(e)) => (None, Some(e)),
            };
            rows.push(Row {
                file: display_file(path, &t.file),
                name: t.name,
                dtype: t.encoding.to_string(),
                parameters: t.shape.iter().product(),
                shape: t.shape,
                bytes: t.nbytes,
                stats,
                stats_error,
            });
        }
    }
    let report = Report {
        schema: "mlxport.tensors/v1",
        total_tensors: rows.len(),
        total_parameters: rows.iter().map(|r| r.parameters).sum(),
        total_bytes: rows.iter().map(|r| r.bytes).sum(),
        sources,
        tensors: rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, args.stats);
    }
    Ok(crate::exit::OK)
}

/// Statistics of one tensor. Large dense tensors are read zero-copy and
/// reduced in parallel; block-quantized ones are dequantized first.
fn tensor_stats(src: &dyn TensorSource, name: &str, enc: &Encoding) -> Result<Stats, String> {
    match enc {
        Encoding::Dense(d) if d.is_decodable() => {
            let raw = src.raw(name).map_err(|e| e.to_string())?;
            Stats::of_bytes(*d, &raw).map_err(|e| e.to_string())
        }
        Encoding::Dense(d) => Err(format!("statistics are not defined for {d}")),
        Encoding::Ggml { .. } => src.read_f32(name).map(|v| Stats::of_f32(&v)).map_err(|e| e.to_string()),
    }
}

/// A tensor's file relative to the path the user gave.
fn display_file(arg: &Path, file: &Path) -> String {
    if arg.is_dir() {
        if let Ok(rel) = file.strip_prefix(arg) {
            return rel.display().to_string();
        }
    }
    file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file.display().to_string())
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x != 0.0 && (x.abs() >= 1e5 || x.abs() < 1e-3) => format!("{x:.4e}"),
        Some(x) => format!("{x:.6}"),
    }
}

fn print_table(report: &Report, stats: bool) {
    let mut header = vec!["name", "dtype", "shape", "params", "bytes", "file"];
    if stats {
        header.extend(["min", "max", "mean", "std", "nan", "inf"]);
    }
    let mut table = Table::new(&header);
    table.right_align(&[3, 4]);
    for r in &report.tensors {
        let mut cells = vec![r.name.clone(), r.dtype.clone(), format!("{:?}", r.shape), human_count(r.parameters), human_bytes(r.bytes), r.file.clone()];
        if stats {
            match (&r.stats, &r.stats_error) {
                (Some(s), _) => cells.extend([fmt_num(s.min), fmt_num(s.max), fmt_num(s.mean), fmt_num(s.std), s.nan.to_string(), s.inf.to_string()]),
                (None, e) => {
                    cells.push(e.clone().unwrap_or_default());
                    cells.extend(std::iter::repeat_n(String::new(), 5));
                }
            }
        }
        table.row(cells);
    }
    table.print();
    println!(
        "{} tensors, {} parameters, {} in {}",
        report.total_tensors,
        human_count(report.total_parameters),
        human_bytes(report.total_bytes),
        report.sources.iter().map(|s| format!("{} ({})", s.path, s.format)).collect::<Vec<_>>().join(", ")
    );
}
