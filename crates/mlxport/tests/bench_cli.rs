//! `mlxport bench` through the real binary, on controlled commands: sleeps
//! of known length, CPU-bound loops, a run made slow on purpose, a process
//! tree that would outlive a timeout, an allocation of known size. The
//! helper program is compiled from the source below with `rustc` on first
//! use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mlxport_testkit::{bin, python, workspace_root};
use serde_json::Value;

const HELPER: &str = r#"
use std::io::Write;
use std::time::{Duration, Instant};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a[1].as_str() {
        // spin MS: burn MS milliseconds of CPU time (by the kernel's count
        // in /proc/self/schedstat, so other load on the machine only
        // stretches the wall time).
        "spin" => {
            let want = a[2].parse::<u64>().unwrap() * 1_000_000;
            let cpu_ns = || std::fs::read_to_string("/proc/self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            let start = Instant::now();
            let mut x = 0u64;
            loop {
                for i in 0..100_000u64 { x = x.wrapping_mul(31).wrapping_add(i); }
                std::hint::black_box(x);
                let done = match cpu_ns() { Some(ns) => ns >= want, None => start.elapsed().as_nanos() as u64 >= want };
                if done { break; }
            }
        }
        // alloc MIB: allocate and touch MIB mebibytes.
        "alloc" => {
            let n: usize = a[2].parse::<usize>().unwrap() << 20;
            let v = vec![1u8; n];
            let mut s = 0u64;
            for i in (0..n).step_by(4096) { s += v[i] as u64; }
            std::hint::black_box((s, &v));
        }
        // nth-slow COUNTER N SLOW_MS FAST_MS: the N-th call (1-based) sleeps SLOW_MS.
        "nth-slow" => {
            let p = std::path::Path::new(&a[2]);
            let k: u32 = std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0) + 1;
            std::fs::write(p, k.to_string()).unwrap();
            let ms = if k == a[3].parse::<u32>().unwrap() { &a[4] } else { &a[5] };
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
        // tree DIR N: start N grandchildren that sleep 60 s, then sleep 60 s.
        "tree" => {
            let dir = std::path::Path::new(&a[2]);
            for _ in 0..a[3].parse::<u32>().unwrap() {
                std::process::Command::new(&a[0]).args(["linger", &a[2]]).spawn().unwrap();
            }
            std::fs::write(dir.join(format!("{}", std::process::id())), "").unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        "linger" => {
            std::fs::write(std::path::Path::new(&a[2]).join(format!("{}", std::process::id())), "").unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        // print KIB: write KIB KiB of numbered lines to stdout, then "END".
        "print" => {
            let mut out = std::io::stdout().lock();
            let mut n = 0;
            let mut i = 0u64;
            while n < a[2].parse::<usize>().unwrap() << 10 {
                let line = format!("{i:015}\n");
                n += line.len();
                out.write_all(line.as_bytes()).unwrap();
                i += 1;
            }
            out.write_all(b"END\n").unwrap();
        }
        other => panic!("unknown mode {other}"),
    }
}
"#;

/// Timing tests run one at a time, so they do not disturb each other.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn helper() -> &'static Path {
    static HELPER_BIN: OnceLock<PathBuf> = OnceLock::new();
    HELPER_BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-helper");
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("helper.rs");
        std::fs::write(&src, HELPER).unwrap();
        let bin = dir.join(format!("helper-{}", std::process::id()));
        let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args(["-O", "--edition", "2021", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .expect("rustc runs");
        assert!(out.status.success(), "compiling the helper: {}", String::from_utf8_lossy(&out.stderr));
        bin
    })
}

fn h() -> String {
    helper().display().to_string()
}

fn mlxport(args: &[&str]) -> Output {
    bin!().args(args).output().unwrap()
}

fn receipt(args: &[&str]) -> Value {
    let out = mlxport(args);
    assert!(out.status.success(), "mlxport {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "mlxport.bench-receipt/v1");
    v
}

fn walls(b: &Value) -> Vec<f64> {
    b["runs"].as_array().unwrap().iter().map(|r| r["wall_s"].as_f64().unwrap()).collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn statistics_of_a_sleep() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "8", "--warmup", "1", "--json", "--", "sleep", "0.05"]);
    let b = &r["benchmarks"][0];
    assert_eq!(b["role"], "single");
    assert_eq!(b["command"]["argv"], serde_json::json!(["sleep", "0.05"]));
    let mut w = walls(b);
    assert_eq!(w.len(), 8);
    assert!(w.iter().all(|&x| (0.05..0.5).contains(&x)), "{w:?}");
    // Recompute the basic statistics from the raw runs.
    let s = &b["stats"];
    let mean = w.iter().sum::<f64>() / 8.0;
    w.sort_by(f64::total_cmp);
    let median = (w[3] + w[4]) / 2.0;
    assert!((f(&s["mean"]) - mean).abs() < 1e-12);
    assert!((f(&s["median"]) - median).abs() < 1e-12);
    assert_eq!((f(&s["min"]), f(&s["max"])), (w[0], w[7]));
    let sd = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
    assert!((f(&s["stddev"]) - sd).abs() < 1e-12);
    assert!(f(&s["p95"]) >= median && f(&s["p95"]) <= w[7]);
    assert!(f(&s["mad"]) >= 0.0 && f(&s["mad"]) < 0.01);
    let ci = &s["median_ci"];
    assert!(f(&ci["low"]) <= median && median <= f(&ci["high"]), "{ci}");
    assert!(f(&ci["low"]) >= w[0] && f(&ci["high"]) <= w[7]);
    assert!(median < 0.08, "sleep 0.05 took {median}");
    // Sleeping costs almost no CPU.
    for run in b["runs"].as_array().unwrap() {
        assert!(f(&run["user_s"]) + f(&run["system_s"]) < 0.03, "{run}");
        assert_eq!(run["exit_code"], 0);
    }
    let env = &r["environment"];
    assert!(env["logical_cores"].as_u64().unwrap() >= 1);
    assert!(env["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(r["settings"]["warmup"], 1);
}

#[test]
fn cpu_bound_commands_show_user_time() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "3", "--json", "--", &h(), "spin", "200"]);
    for run in r["benchmarks"][0]["runs"].as_array().unwrap() {
        let (wall, user) = (f(&run["wall_s"]), f(&run["user_s"]));
        let cpu = user + f(&run["system_s"]);
        assert!(wall >= 0.2 && user >= 0.15 && cpu >= 0.19 && cpu <= wall + 0.02, "{run}");
    }
    // A busy loop in the shell, under --shell.
    let r = receipt(&["bench", "--runs", "2", "--shell", "--json", "--", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"]);
    assert_eq!(r["benchmarks"][0]["command"]["argv"][0], "/bin/sh");
    for run in r["benchmarks"][0]["runs"].as_array().unwrap() {
        // The loop costs tens of milliseconds of CPU, all of it user time
        // in one process: never more than the wall time.
        let (user, wall) = (f(&run["user_s"]), f(&run["wall_s"]));
        assert!(user > 0.02 && user <= wall + 0.02, "{run}");
    }
}

#[test]
fn flags_one_injected_slow_run() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let c = counter.display().to_string();
    let out = mlxport(&["bench", "--runs", "10", "--json", "--", &h(), "nth-slow", &c, "6", "400", "50"]);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &r["benchmarks"][0];
    let outliers = b["outliers"].as_array().unwrap();
    let slow = outliers.iter().find(|o| o["run"] == 5).unwrap_or_else(|| panic!("run 6 not flagged: {outliers:?}"));
    assert!(f(&slow["z"]) > 3.5 && f(&slow["value"]) >= 0.4);
    // Every other run took about 50 ms; none of them is far enough out to be flagged as slow.
    assert!(outliers.iter().all(|o| o["run"] == 5 || f(&o["value"]) < 0.2), "{outliers:?}");
    assert!(f(&b["stats"]["median"]) < 0.1, "the median is robust to the slow run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning:") && stderr.contains("outliers by modified Z-score") && stderr.contains("run 6 ("), "{stderr}");
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("modified Z-score")));
}

fn alive(pid: u32) -> bool {
    // A zombie waiting for its reaper is gone for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}

#[test]
fn timeout_kills_the_whole_process_tree() {
    let _g = serial();
    for extra in [&[][..], &["--ignore-failure", "--json"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let start = Instant::now();
        let mut args = vec!["bench", "--runs", "1", "--timeout", "0.5"];
        args.extend_from_slice(extra);
        let hh = h();
        args.extend_from_slice(&["--", &hh, "tree", &d, "3"]);
        let out = mlxport(&args);
        assert!(start.elapsed() < Duration::from_secs(20), "the timeout did not stop the run");
        let pids: Vec<u32> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap()).collect();
        assert_eq!(pids.len(), 4, "the child and its 3 grandchildren started");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        assert!(left.is_empty(), "still running after the timeout: {left:?}");
        if extra.is_empty() {
            assert_eq!(out.status.code(), Some(1));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("timed out (process group killed)"), "{stderr}");
        } else {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let r: Value = serde_json::from_slice(&out.stdout).unwrap();
            let run = &r["benchmarks"][0]["runs"][0];
            assert_eq!(run["timed_out"], true);
            assert_eq!(run["signal"], 9);
            assert!(f(&run["wall_s"]) >= 0.5 && f(&run["wall_s"]) < 5.0, "{run}");
        }
    }
}

#[test]
fn ab_verdict_on_a_known_difference() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "10", "--json", "--baseline", "sleep 0.10", "--candidate", "sleep 0.13"]);
    let c = &r["comparison"];
    assert_eq!(c["verdict"], "slower", "{c}");
    assert_eq!(c["pairs"], 10);
    let ratio = f(&c["ratio"]);
    assert!((1.2..1.4).contains(&ratio), "{c}");
    assert!(f(&c["ratio_ci"]["low"]) > 1.0 && f(&c["ratio_ci"]["low"]) <= ratio && ratio <= f(&c["ratio_ci"]["high"]), "{c}");
    assert_eq!(r["benchmarks"][0]["role"], "baseline");
    assert_eq!(r["benchmarks"][1]["role"], "candidate");

    // Swapped and in random order: the candidate is faster.
    let r = receipt(&["bench", "--runs", "10", "--order", "random", "--seed", "7", "--json", "--baseline", "sleep 0.13", "--candidate", "sleep 0.10"]);
    let c = &r["comparison"];
    assert_eq!(c["verdict"], "faster", "{c}");
    assert!((1.2..1.4).contains(&f(&c["improvement"])), "{c}");
    assert_eq!(r["settings"]["order"], "random");
}

#[test]
fn ab_verdict_on_no_difference() {
    let _g = serial();
    let out = mlxport(&["bench", "--runs", "10", "--baseline", "sleep 0.1", "--candidate", "sleep 0.1"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: candidate no difference beyond noise"), "{stdout}");
    assert!(stdout.contains("10 interleaved pairs"), "{stdout}");
}

#[test]
fn peak_rss_of_a_known_allocation() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "3", "--json", "--", &h(), "alloc", "200"]);
    let want = 200.0 * (1u64 << 20) as f64;
    for run in r["benchmarks"][0]["runs"].as_array().unwrap() {
        let got = f(&run["max_rss_bytes"]);
        assert!((got - want).abs() / want < 0.05, "peak RSS {got} vs {want}");
        assert!(got > f(&run["rss_floor_bytes"]));
    }
    assert_eq!(r["benchmarks"][0]["resources"]["max_rss_at_floor"], false);
}

#[test]
fn no_shell_unless_asked() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "1", "--json", "--baseline", "echo '$HOME' \"a  b\"", "--candidate", "echo *"]);
    assert_eq!(r["benchmarks"][0]["output_tail"]["stdout"], "$HOME a  b\n");
    assert_eq!(r["benchmarks"][1]["output_tail"]["stdout"], "*\n");
    let out = mlxport(&["bench", "--baseline", "echo a | cat", "--candidate", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --shell"));
    let r = receipt(&["bench", "--runs", "1", "--shell", "--json", "--", "echo $((1+2)) | cat"]);
    assert_eq!(r["benchmarks"][0]["output_tail"]["stdout"], "3\n");
    let out = mlxport(&["bench", "--runs", "1", "--", "/nonexistent/program"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start `/nonexistent/program`"));
    let out = mlxport(&["bench", "--runs", "1", "--", "false"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run 1 of `false` failed: exit code 1"));
}

#[test]
fn output_capture_is_bounded() {
    let _g = serial();
    let r = receipt(&["bench", "--runs", "1", "--capture-kib", "4", "--json", "--", &h(), "print", "1024"]);
    let t = &r["benchmarks"][0]["output_tail"];
    let tail = t["stdout"].as_str().unwrap();
    assert_eq!(tail.len(), 4096);
    assert!(tail.ends_with("END\n"));
    assert_eq!(t["stdout_bytes"].as_u64().unwrap(), (1024 << 10) + 4);
}

#[test]
fn run_counts_time_and_hooks() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let l = log.display().to_string();
    let prep = format!("echo p >> '{l}'");
    let clean = format!("echo c >> '{l}'");
    let r = receipt(&["bench", "--shell", "--runs", "3", "--warmup", "2", "--prepare", &prep, "--cleanup", &clean, "--json", "--", "true"]);
    assert_eq!(walls(&r["benchmarks"][0]).len(), 3);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "p\n".repeat(5) + "c\n");
    // --min-time keeps going past --min-runs; --max-runs caps it.
    let r = receipt(&["bench", "--min-runs", "2", "--min-time", "0.5", "--json", "--", "sleep", "0.05"]);
    let n = walls(&r["benchmarks"][0]).len();
    assert!((8..=11).contains(&n), "{n} runs");
    let r = receipt(&["bench", "--min-runs", "2", "--max-runs", "3", "--min-time", "10", "--json", "--", "sleep", "0.01"]);
    assert_eq!(walls(&r["benchmarks"][0]).len(), 3);
    // A failing prepare hook stops the benchmark.
    let out = mlxport(&["bench", "--runs", "1", "--prepare", "false", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prepare command `false` failed"));
}

#[test]
fn receipts_check_promotion_and_exports() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let input = p("input.txt");
    std::fs::write(&input, "the workload's input").unwrap();
    std::fs::write(p("pass.json"), r#"{"passed": true, "metric": "perplexity", "delta": 0.001}"#).unwrap();
    std::fs::write(p("fail.json"), r#"{"status": "fail"}"#).unwrap();
    let common = ["--runs", "8", "--warmup", "2", "--workload", "sleepy", "--input", &input, "--model-fingerprint", "sha256:abc"];
    let base = p("base.json");
    let cand = p("cand.json");
    let bad_gate = p("cand-failed-gate.json");
    let other = p("other.json");
    let run = |extra: &[&str], cmd: &str| {
        let mut a = vec!["bench"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--", "sleep", cmd]);
        let out = mlxport(&a);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[&common[..], &["-o", &base]].concat(), "0.13");
    let md = p("cand.md");
    let svg = p("cand.svg");
    let gate = p("pass.json");
    run(&[&common[..], &["-o", &cand, "--quality-gate", &gate, "--export-markdown", &md, "--export-svg", &svg]].concat(), "0.10");
    let fail = p("fail.json");
    run(&[&common[..], &["-o", &bad_gate, "--quality-gate", &fail]].concat(), "0.10");
    run(&["--runs", "6", "--workload", "other", "-o", &other], "0.10");

    let r: Value = serde_json::from_str(&std::fs::read_to_string(&cand).unwrap()).unwrap();
    assert_eq!(r["workload"]["inputs"][0]["sha256"].as_str().unwrap().len(), 7 + 64);
    assert_eq!(r["model_fingerprint"], "sha256:abc");
    assert_eq!(r["quality_gate"]["passed"], true);
    let mdt = std::fs::read_to_string(&md).unwrap();
    assert!(mdt.contains("| `sleep 0.10` | 8 |"), "{mdt}");
    let svgt = std::fs::read_to_string(&svg).unwrap();
    assert!(svgt.starts_with("<svg") && svgt.matches("<circle").count() >= 6);

    let out = mlxport(&["bench", "check", &base, &cand, &other]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("valid ").count(), 3);

    let claim = p("claim.json");
    let out = mlxport(&["bench", "check", "--baseline", &base, "--candidate", &cand, "--claim", &claim, "--technique", "quantize-4bit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("promoted: the candidate is 1.") && stdout.contains("validated locally on"), "{stdout}");
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&claim).unwrap()).unwrap();
    assert_eq!((c["schema"].as_str(), c["technique"].as_str(), c["passed"].as_bool()), (Some("mlxport.receipt/v1"), Some("quantize-4bit"), Some(true)));
    assert_eq!(c["model_fingerprint"], "sha256:abc");
    assert_eq!(c["quality_gate"], "pass");
    // The knowledge base reads it as a passing receipt for that technique.
    let claims = tempfile::tempdir().unwrap();
    std::fs::copy(&claim, claims.path().join("claim.json")).unwrap();
    let kb = mlxport_kb::recommend::read_receipts(claims.path()).unwrap();
    assert!(kb.skipped.is_empty(), "{:?}", kb.skipped);
    assert!(kb.receipts[0].passing() && kb.receipts[0].technique == "quantize-4bit" && kb.receipts[0].hardware.as_deref().is_some_and(|h| !h.is_empty()));

    let out = mlxport(&["bench", "check", "--json", "--baseline", &base, "--candidate", &bad_gate]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["promotion"]["promoted"], false);
    let failed: Vec<&str> = v["promotion"]["rules"].as_array().unwrap().iter().filter(|r| r["passed"] == false).map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(failed, ["quality-gate"]);

    // Reversed: the "candidate" is slower; and a different workload.
    let out = mlxport(&["bench", "check", "--baseline", &cand, "--candidate", &base]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not promoted: improvement"));
    let out = mlxport(&["bench", "check", "--baseline", &base, "--candidate", &other]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("same-workload ("), "{}", String::from_utf8_lossy(&out.stdout));

    // Tampering is found.
    let mut t: Value = serde_json::from_str(&std::fs::read_to_string(&cand).unwrap()).unwrap();
    t["benchmarks"][0]["runs"][2]["wall_s"] = serde_json::json!(0.01);
    let tampered = p("tampered.json");
    std::fs::write(&tampered, t.to_string()).unwrap();
    let out = mlxport(&["bench", "check", &tampered]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID") && String::from_utf8_lossy(&out.stdout).contains("stats do not match its runs"));
    std::fs::write(&tampered, "not json").unwrap();
    assert_eq!(mlxport(&["bench", "check", &tampered]).status.code(), Some(2));
}

/// `bench generate` on SmolLM2 converted to MLX (bf16) by `mlxport
/// convert`, on CPU MLX with short prompts: a receipt `bench check`
/// validates, with every measurement present and consistent, and MLX's
/// memory counters at least the size of the weights mlx-lm loads.
#[test]
fn bench_generate_on_converted_smollm2() {
    let Some(py) = python() else { return };
    let _g = serial();
    let hf = workspace_root().join("target/fixtures/smollm2-hf");
    let o = Command::new(&py).arg(workspace_root().join("python/fixtures.py")).arg("smollm2-hf").arg(&hf).output().unwrap();
    assert!(o.status.success(), "fixtures.py: {}", String::from_utf8_lossy(&o.stderr));
    let d = tempfile::tempdir().unwrap();
    let (map, mlx) = (d.path().join("map.json"), d.path().join("mlx"));
    let run = |args: &[&str]| {
        let o = bin!().args(args).env("MLXPORT_PYTHON", &py).output().unwrap();
        assert!(o.status.success(), "mlxport {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        o
    };
    run(&["map", "draft", hf.to_str().unwrap(), "--family", "dense-decoder", "-o", map.to_str().unwrap()]);
    run(&["convert", hf.to_str().unwrap(), "--map", map.to_str().unwrap(), "--out", mlx.to_str().unwrap(), "--dtype", "bf16"]);
    let (rec, md, svg) = (d.path().join("gen.json"), d.path().join("gen.md"), d.path().join("gen.svg"));
    let o = run(&[
        "bench",
        "generate",
        mlx.to_str().unwrap(),
        "--prompt-tokens",
        "16,64",
        "--gen-tokens",
        "8",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--resamples",
        "500",
        "-o",
        rec.to_str().unwrap(),
        "--export-markdown",
        md.to_str().unwrap(),
        "--export-svg",
        svg.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("mlx-lm") && table.contains("decode tok/s"), "{table}");

    let chk = run(&["bench", "check", "--json", rec.to_str().unwrap()]);
    let chk: Value = serde_json::from_slice(&chk.stdout).unwrap();
    assert_eq!(chk["receipts"][0]["valid"], true, "{chk}");

    let r: Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    assert_eq!(r["workload"]["kind"], "generate");
    assert_eq!(r["workload"]["parameters"]["prompt_tokens"], serde_json::json!([16, 64]));
    assert!(r["model_fingerprint"].as_str().is_some_and(|s| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())), "{}", r["model_fingerprint"]);
    let weights = std::fs::metadata(mlx.join("model.safetensors")).unwrap().len() as f64;
    let benches = r["benchmarks"].as_array().unwrap();
    assert_eq!(benches.len(), 2);
    for (b, n) in benches.iter().zip([16.0, 64.0]) {
        assert_eq!(b["label"], format!("prompt {n}"));
        assert_eq!(b["metric"]["name"], "decode_tokens_per_s");
        assert_eq!(b["metric"]["better"], "higher");
        let runs = b["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        for run in runs {
            let x = &run["extra"];
            assert_eq!(f(&x["prompt_tokens"]), n);
            assert_eq!(f(&x["generated_tokens"]), 8.0);
            let (ttft, decode_s) = (f(&x["ttft_s"]), f(&x["decode_s"]));
            assert!(ttft > 0.0 && decode_s > 0.0);
            assert!((f(&x["prefill_tokens_per_s"]) * ttft - n).abs() < 1e-6 * n);
            assert!((f(&x["decode_tokens_per_s"]) * decode_s - 7.0).abs() < 1e-6);
            assert!(f(&run["wall_s"]) >= ttft + decode_s);
            let (p50, p90, p99, max) = (f(&x["token_latency_p50_s"]), f(&x["token_latency_p90_s"]), f(&x["token_latency_p99_s"]), f(&x["token_latency_max_s"]));
            assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max && max <= decode_s, "{x}");
            // MLX holds every weight while generating: its counters cover at
            // least the bytes of the checkpoint.
            assert!(f(&x["active_memory_bytes"]) >= 0.95 * weights, "{x} vs {weights}");
            assert!(f(&x["peak_memory_bytes"]) >= f(&x["active_memory_bytes"]));
            assert!(f(&x["peak_memory_bytes"]) < 4.0 * weights, "{x}");
        }
    }
    // The scaffolded package of the same checkpoint, side by side with
    // mlx-lm's own loop in one process: both receipts check, every prompt
    // length has paired ratios, and both decoded the same greedy tokens.
    let (insp, pkg, vs) = (d.path().join("inspection.json"), d.path().join("smollm2_mlx"), d.path().join("versus.json"));
    run(&["inspect", hf.to_str().unwrap(), "-o", insp.to_str().unwrap()]);
    run(&["scaffold", insp.to_str().unwrap(), "-o", pkg.to_str().unwrap()]);
    let o = run(&[
        "bench",
        "generate",
        pkg.to_str().unwrap(),
        "--weights",
        mlx.to_str().unwrap(),
        "--versus-mlx-lm",
        mlx.to_str().unwrap(),
        "--options",
        r#"{"cache": "step", "pipeline": true}"#,
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "8",
        "--runs",
        "2",
        "--resamples",
        "500",
        "-o",
        vs.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("against mlx-lm's own loop") && table.contains("decode ratio"), "{table}");
    let v: Value = serde_json::from_slice(&std::fs::read(&vs).unwrap()).unwrap();
    assert_eq!(v["schema"], "mlxport.bench-versus/v1");
    for role in ["candidate", "baseline"] {
        let p = d.path().join(format!("{role}.json"));
        std::fs::write(&p, v[role].to_string()).unwrap();
        let chk: Value = serde_json::from_slice(&run(&["bench", "check", "--json", p.to_str().unwrap()]).stdout).unwrap();
        assert_eq!(chk["receipts"][0]["valid"], true, "{role}: {chk}");
        assert_eq!(v[role]["benchmarks"][0]["runs"].as_array().unwrap().len(), 2, "{role}");
    }
    let row = &v["rows"][0];
    assert_eq!(row["prompt_tokens"], 16);
    assert_eq!(row["same_tokens"], true, "{row}");
    for m in ["decode", "prefill"] {
        let (r, lo, hi) = (f(&row[m]["ratio"]), f(&row[m]["ratio_ci"]["low"]), f(&row[m]["ratio_ci"]["high"]));
        assert!(r > 0.0 && lo <= r && r <= hi && row[m]["method"] == "paired", "{m}: {row}");
    }
    // The options are checked by the package itself.
    let o = bin!()
        .args([
            "bench",
            "generate",
            pkg.to_str().unwrap(),
            "--weights",
            mlx.to_str().unwrap(),
            "--options",
            r#"{"cache": "paged"}"#,
            "--prompt-tokens",
            "4",
            "--gen-tokens",
            "2",
            "--runs",
            "1",
        ])
        .env("MLXPORT_PYTHON", &py)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cache 'paged'"), "{}", String::from_utf8_lossy(&o.stderr));

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("### Generation by prompt length") && md.contains("| 64 | 2 |"), "{md}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("prompt tokens") && svg.contains("decode"), "{svg}");
}
