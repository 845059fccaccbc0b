//! Receipts built from made-up runs, for unit tests.

use crate::command::CommandSpec;
use crate::env::{Environment, Source};
use crate::receipt::{CommandBench, Receipt, Settings, Workload, WorkloadKind};
use crate::runner::{OutputMode, Run};
use crate::schedule::{Measured, Order};
use crate::stats::Bootstrap;

pub fn run(wall: f64) -> Run {
    Run {
        wall_s: wall,
        user_s: wall / 10.0,
        system_s: wall / 20.0,
        max_rss_bytes: 2 << 20,
        rss_floor_bytes: 1 << 20,
        exit_code: Some(0),
        signal: None,
        timed_out: false,
        extra: Default::default(),
    }
}

pub fn settings() -> Settings {
    Settings {
        warmup: 0,
        runs: None,
        min_runs: 5,
        min_time_s: 0.0,
        max_runs: None,
        order: Order::Alternate,
        seed: 1,
        timeout_s: None,
        output: OutputMode::Null,
        capture_bytes: 0,
        ignore_failure: false,
        prepare: None,
        cleanup: None,
        bootstrap: Bootstrap { resamples: 2000, ..Bootstrap::default() },
        min_effect: 0.01,
    }
}

pub fn environment() -> Environment {
    let mut e = Environment {
        os: "linux".into(),
        arch: "x86_64".into(),
        os_version: Some("Debian GNU/Linux 12 (bookworm)".into()),
        kernel: Some("6.1.0".into()),
        cpu_model: Some("Test CPU".into()),
        logical_cores: 2,
        physical_cores: Some(1),
        memory_bytes: Some(24 << 30),
        apple: None,
        python: None,
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    e
}

/// A single (candidate = None) or A/B receipt.
pub fn receipt(base: &[f64], cand: Option<&[f64]>) -> Receipt {
    let mut commands = vec![CommandSpec::parse("sleep 0.1", false).unwrap()];
    let mut runs = vec![base.iter().map(|&w| run(w)).collect::<Vec<_>>()];
    if let Some(c) = cand {
        commands.push(CommandSpec::parse("sleep 0.13", false).unwrap());
        runs.push(c.iter().map(|&w| run(w)).collect());
    }
    let n = commands.len();
    Receipt::from_commands(CommandBench {
        environment: environment(),
        source: Source { git_commit: None, dirty: None },
        workload: Workload::new(WorkloadKind::Command, "sleep", None, &[]).unwrap(),
        model_fingerprint: None,
        settings: settings(),
        commands: &commands,
        measured: Measured { runs, sequence: Vec::new(), last_output: vec![Default::default(); n] },
        quality_gate: None,
    })
    .unwrap()
}

/// A receipt shaped like a generation benchmark: a `generate` workload and
/// one benchmark per prompt length whose metric is a throughput.
pub fn generate_receipt(decode_tps: &[f64]) -> Receipt {
    use crate::compare::Better;
    use crate::receipt::{Benchmark, Metric, Role, Tool};
    let workload =
        Workload::new(WorkloadKind::Generate, "smollm2-135m decode", Some(serde_json::json!({"prompt_tokens": [128], "gen_tokens": 128})), &[]).unwrap();
    let runs: Vec<Run> = decode_tps
        .iter()
        .map(|&t| {
            let mut r = run(128.0 / t);
            r.extra.insert("decode_tokens_per_s".into(), t);
            r.extra.insert("ttft_s".into(), 0.05);
            r
        })
        .collect();
    let metric = Metric { name: "decode_tokens_per_s".into(), unit: "tokens/s".into(), better: Better::Higher };
    let s = settings();
    let b = Benchmark::from_runs(Role::Single, "prompt 128".into(), None, metric, runs, &s.bootstrap).unwrap();
    Receipt {
        schema: crate::receipt::SCHEMA.into(),
        created: mlxport_util::time::now_rfc3339(),
        tool: Tool { name: "mlxport".into(), version: "test".into() },
        environment: environment(),
        source: Source { git_commit: None, dirty: None },
        workload,
        model_fingerprint: Some("sha256:model".into()),
        settings: s,
        warnings: crate::receipt::warnings(std::slice::from_ref(&b)),
        benchmarks: vec![b],
        comparison: None,
        quality_gate: None,
    }
}
