//! Every `mlxport SUBCOMMAND ... --flag` that a message, plan, report,
//! model card or knowledge-base text tells a reader to run exists: the
//! subcommand path answers `--help`, and each `--flag` of the mention is
//! one its `--help` lists (deprecated spellings are hidden aliases, so a
//! mention must use the current one). The port's own remediation (what to
//! re-run `mlxport port` with) names only `mlxport port` flags.
//!
//! Texts checked: a full default port with quantization (its output,
//! plan, inspection, parity, quality, report, package README and card,
//! port.json), stopped ports (remote code, a family the port cannot
//! finish, a restricted license), and the knowledge base and failure atlas.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{remote_code_model, restricted_fused_moe, time_series_model};
use mlxport_testkit::{bin, describe, python, workspace_root};
use regex::Regex;

/// A command's flags and subcommands, as its `--help` lists them.
type Help = (BTreeSet<String>, BTreeSet<String>);

/// The CLI as `--help` shows it, asked once per subcommand path.
#[derive(Default)]
struct Cli {
    /// Path -> its help, `None` when the path is no command.
    seen: BTreeMap<Vec<String>, Option<Help>>,
}

impl Cli {
    fn help(&mut self, path: &[String]) -> Option<Help> {
        if let Some(v) = self.seen.get(path) {
            return v.clone();
        }
        let o = bin!().args(path).arg("--help").output().unwrap();
        let v = o.status.success().then(|| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let flag = Regex::new(r"(?m)^\s+(?:-[A-Za-z], )?(--[a-z][a-z0-9-]*)").unwrap();
            let flags = flag.captures_iter(&text).map(|c| c[1].to_string()).collect();
            let mut subs = BTreeSet::new();
            if let Some(i) = text.find("Commands:\n") {
                for l in text[i + 10..].lines() {
                    if l.trim().is_empty() {
                        break;
                    }
                    if let Some(w) = l.split_whitespace().next() {
                        subs.insert(w.to_string());
                    }
                }
            }
            (flags, subs)
        });
        self.seen.insert(path.to_vec(), v.clone());
        v
    }
}

/// Prose in which `mlxport` is followed by an ordinary word, not a command.
const PROSE: &[&str] =
    &["from", "and", "or", "is", "with", "to", "in", "itself", "the", "writes", "wrote", "reads", "runs", "does", "can", "will", "has", "never", "version"];

/// Problems with the mentions of `mlxport` commands in `text` (`origin`
/// names it in messages).
fn check(cli: &mut Cli, origin: &str, text: &str, problems: &mut Vec<String>, checked: &mut usize) {
    let start = Regex::new(r"(?:^|[^A-Za-z0-9_./-])mlxport ([a-z][a-z0-9-]*)").unwrap();
    for c in start.captures_iter(text) {
        let first = c.get(1).unwrap();
        if PROSE.contains(&first.as_str()) {
            continue;
        }
        // The mention runs to the end of the command: a line end, a code
        // span's end, a shell operator, or the prose around it.
        let rest = &text[first.start()..];
        let end = rest.find(['\n', '`', ';', '|', '>', ')', '(', '"', '\\']).unwrap_or(rest.len());
        let mut mention = &rest[..end];
        for stop in [", ", ". ", " or ", " and ", " then "] {
            if let Some(i) = mention.find(stop) {
                mention = &mention[..i];
            }
        }
        let words: Vec<&str> = mention.split_whitespace().collect();
        let mut path = vec![words[0].to_string()];
        let Some(mut help) = cli.help(&path) else {
            problems.push(format!("{origin}: 'mlxport {}' is no command (in: mlxport {mention})", words[0]));
            continue;
        };
        let mut i = 1;
        while i < words.len() && !help.1.is_empty() && !words[i].starts_with('-') {
            let w = words[i].to_string();
            if !help.1.contains(&w) {
                break;
            }
            path.push(w);
            help = cli.help(&path).expect("a listed subcommand answers --help");
            i += 1;
        }
        *checked += 1;
        for w in &words[i..] {
            let Some(flag) = w.strip_prefix("--").map(|f| f.split('=').next().unwrap().trim_end_matches(['.', ',', ':', '\'', '*'])) else { continue };
            if flag.is_empty() || !flag.starts_with(|c: char| c.is_ascii_lowercase()) {
                continue;
            }
            if !help.0.contains(&format!("--{flag}")) {
                problems.push(format!("{origin}: 'mlxport {}' has no --{flag} (in: mlxport {mention})", path.join(" ")));
            }
        }
    }
}

/// Flags a port's remediation tells the user to re-run `mlxport port` with.
fn check_port_flags(cli: &mut Cli, origin: &str, lines: &[String], problems: &mut Vec<String>) {
    let flags = cli.help(&["port".to_string()]).unwrap().0;
    let re = Regex::new(r"(?:^|[\s(/'`])(--[a-z][a-z0-9-]*)").unwrap();
    for l in lines {
        // A mention of another command is checked against that command.
        if l.contains("mlxport ") {
            continue;
        }
        for c in re.captures_iter(l) {
            if !flags.contains(&c[1]) {
                problems.push(format!("{origin}: remediation names {} which mlxport port does not take: {l}", &c[1]));
            }
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "md" || x == "json") && std::fs::metadata(&p).unwrap().len() < (8 << 20) {
            out.push(p);
        }
    }
}

/// Every Markdown and JSON text of a PORT_DIR, the package's included.
fn check_dir(cli: &mut Cli, dir: &Path, problems: &mut Vec<String>, checked: &mut usize) {
    let mut all = Vec::new();
    files(dir, &mut all);
    for f in all {
        let name = f.strip_prefix(dir).unwrap().display().to_string();
        // Written by the libraries, not by mlxport: tokenizer and
        // checkpoint files of the source, the source's own card.
        if name.starts_with("weights/") || name.starts_with("quantized/") || name.starts_with("source/") || name.contains("SOURCE_README") {
            continue;
        }
        if name.starts_with("package/") && !name.ends_with("README.md") && !name.ends_with("mlxport-package.json") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // JSON strings: their escapes undone, so a mention reads as text.
        let text =
            if name.ends_with(".json") { serde_json::from_str::<serde_json::Value>(&text).map(|v| strings(&v).join("\n")).unwrap_or(text) } else { text };
        check(cli, &name, &text, problems, checked);
    }
    if let Ok(t) = std::fs::read_to_string(dir.join("port.json")) {
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        let rem: Vec<String> = v["remediation"].as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
        check_port_flags(cli, &format!("{}/port.json remediation", dir.display()), &rem, problems);
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn port(cwd: &Path) -> Command {
    let mut c = bin!();
    c.arg("port").current_dir(cwd).env("MLXPORT_CACHE", cwd.join("cache"));
    c
}

#[test]
fn the_collector_catches_a_missing_command_and_flag() {
    let mut cli = Cli::default();
    let (mut p, mut n) = (Vec::new(), 0);
    check(&mut cli, "t", "run `mlxport quantize weights --out q --bits 8` then `mlxport map validate --source M --map m.json`", &mut p, &mut n);
    assert!(p.is_empty() && n == 2, "{p:?}");
    check(&mut cli, "t", "try `mlxport quantise W` or `mlxport quantize W --nbits 4` or `mlxport map validate --src M`", &mut p, &mut n);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].contains("'mlxport quantise' is no command") && p[1].contains("no --nbits") && p[2].contains("'mlxport map validate' has no --src"), "{p:?}");
    // A deprecated spelling is an alias --help does not list.
    let mut p = Vec::new();
    check(&mut cli, "t", "`mlxport oracle M --dtype float32`", &mut p, &mut n);
    assert_eq!(p.len(), 1, "{p:?}");
}

#[test]
fn every_mentioned_command_and_flag_exists() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut cli = Cli::default();
    let mut problems = Vec::new();
    let mut checked = 0;

    // A full default port, quantized.
    let o = port(root)
        .env("MLXPORT_PYTHON", &py)
        .args(["--out", "full", "-q", "--bits", "8", "--repo", "sentence-transformers/all-MiniLM-L6-v2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    for (name, bytes) in [("port stdout", &o.stdout), ("port stderr", &o.stderr)] {
        check(&mut cli, name, &String::from_utf8_lossy(bytes), &mut problems, &mut checked);
    }
    let full = root.join("full");
    for f in ["plan.md", "inspection.md", "report/report.md", "package/README.md", "parity/parity.md", "quality/quality.md"] {
        assert!(full.join(f).is_file(), "{f} was not written");
    }
    check_dir(&mut cli, &full, &mut problems, &mut checked);
    assert!(checked >= 15, "only {checked} mentions found in a full port");

    // The same port at 2 bits: the quality gate fails and says what to
    // re-run with (the earlier steps are kept).
    let o = port(root)
        .env("MLXPORT_PYTHON", &py)
        .args(["--out", "full", "-q", "--bits", "2", "--repo", "sentence-transformers/all-MiniLM-L6-v2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(stderr.contains("--target-bpw"), "the gate's remediation: {stderr}");
    check(&mut cli, "2-bit port stderr", &stderr, &mut problems, &mut checked);
    check(&mut cli, "2-bit port stdout", &String::from_utf8_lossy(&o.stdout), &mut problems, &mut checked);
    check_dir(&mut cli, &full, &mut problems, &mut checked);

    // Stopped ports: remote code (inspect), a family the port cannot
    // finish (plan: a time-series model), a restricted license (plan).
    let m = root.join("remote");
    remote_code_model(&m);
    let series = root.join("patchtst");
    time_series_model(&series);
    let moe = root.join("moe");
    restricted_fused_moe(&moe);
    for (model, out, extra) in
        [(&m, "out-remote", &[][..]), (&series, "out-patchtst", &[][..]), (&moe, "out-moe", &[][..]), (&moe, "out-moe-accepted", &["--accept-license"][..])]
    {
        let o = port(root).arg(model).args(["--out", out]).args(extra).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{out}: {}", describe(&o));
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        check(&mut cli, &format!("{out} stdout"), &stdout, &mut problems, &mut checked);
        check(&mut cli, &format!("{out} stderr"), &stderr, &mut problems, &mut checked);
        check_dir(&mut cli, &root.join(out), &mut problems, &mut checked);
    }

    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} mention(s) of commands or flags that do not exist:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_knowledge_base_and_the_failure_atlas_mention_only_real_commands() {
    let ws = workspace_root();
    let mut kb = vec![ws.join("crates/mlxport-parity/data/failure_atlas.toml")];
    for d in ["crates/mlxport-kb/data", "crates/mlxport-kb/data/techniques"] {
        for e in std::fs::read_dir(ws.join(d)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                kb.push(e.path());
            }
        }
    }
    let mut cli = Cli::default();
    let (mut problems, mut checked) = (Vec::new(), 0);
    for f in kb {
        let text = std::fs::read_to_string(&f).unwrap();
        check(&mut cli, &f.strip_prefix(&ws).unwrap().display().to_string(), &text, &mut problems, &mut checked);
    }
    assert!(checked >= 2, "{checked}");
    assert!(problems.is_empty(), "{} mention(s) of commands or flags that do not exist:\n{}", problems.len(), problems.join("\n"));
}
