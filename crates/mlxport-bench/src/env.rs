//! The environment a measurement came from: hardware, operating system and
//! the project's Python stack, plus the source revision being measured.
//!
//! Linux facts come from `/proc` and `uname`; on macOS from `sysctl` and
//! `sw_vers` (chip name, core counts by performance level, memory, macOS
//! version). Python, MLX and mlx-lm versions come from the project's Python
//! environment (`$MLXPORT_VENV`, else a `.venv` in the working directory or
//! a parent) through package metadata, without importing MLX.
//!
//! The environment hash covers everything here except the hash itself; two
//! receipts are comparable only when their hashes agree. The source
//! revision ([`Source`]) is kept out of the hash: a candidate is usually a
//! different revision of the same code on the same machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `linux`, `macos`, ...
    pub os: String,
    pub arch: String,
    /// Distribution or macOS product name and version.
    pub os_version: Option<String>,
    /// Kernel release (`uname -r`).
    pub kernel: Option<String>,
    pub cpu_model: Option<String>,
    pub logical_cores: u32,
    pub physical_cores: Option<u32>,
    pub memory_bytes: Option<u64>,
    /// Apple machines: chip, macOS version, memory, cores (from sysctl).
    pub apple: Option<Apple>,
    /// The project's Python environment, when present.
    pub python: Option<PythonStack>,
    /// `sha256:` of all the fields above (canonical JSON).
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Apple {
    pub chip: Option<String>,
    pub macos_version: Option<String>,
    pub memory_bytes: Option<u64>,
    pub performance_cores: Option<u32>,
    pub efficiency_cores: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonStack {
    pub python: String,
    pub mlx: Option<String>,
    pub mlx_lm: Option<String>,
}

/// The revision of the working directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub git_commit: Option<String>,
    /// Tracked files differ from the commit.
    pub dirty: Option<bool>,
}

impl Environment {
    /// Read the environment of this machine.
    pub fn capture() -> Self {
        let mut e = Environment {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            os_version: None,
            kernel: kernel_release(),
            cpu_model: None,
            logical_cores: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            physical_cores: None,
            memory_bytes: None,
            apple: None,
            python: python_stack(),
            hash: String::new(),
        };
        if cfg!(target_os = "macos") {
            let apple = apple_from(&|k| sysctl(k), command_output("sw_vers", &["-productVersion"]));
            e.os_version = apple.macos_version.as_ref().map(|v| format!("macOS {v}"));
            e.cpu_model = apple.chip.clone();
            e.memory_bytes = apple.memory_bytes;
            e.physical_cores = sysctl("hw.physicalcpu").and_then(|s| s.parse().ok());
            e.apple = Some(apple);
        } else {
            if let Ok(s) = std::fs::read_to_string("/proc/cpuinfo") {
                let (model, physical) = parse_cpuinfo(&s);
                e.cpu_model = model;
                e.physical_cores = physical;
            }
            e.memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| parse_meminfo(&s));
            e.os_version = std::fs::read_to_string("/etc/os-release").ok().and_then(|s| parse_os_release(&s));
        }
        e.hash = e.compute_hash();
        e
    }

    /// The hash of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).expect("environment serializes");
        if let Some(m) = v.as_object_mut() {
            m.remove("hash");
        }
        crate::hash::sha256_json(&v)
    }

    /// Names of the fields (hash excluded) that differ from another
    /// environment.
    pub fn differences(&self, other: &Environment) -> Vec<String> {
        let (a, b) = (serde_json::to_value(self).unwrap_or_default(), serde_json::to_value(other).unwrap_or_default());
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return Vec::new() };
        a.iter()
            .filter(|(k, v)| k.as_str() != "hash" && b.get(k.as_str()) != Some(v))
            .map(|(k, v)| format!("{k}: {} vs {}", v, b.get(k.as_str()).cloned().unwrap_or_default()))
            .collect()
    }
}

impl Source {
    /// The git revision of a directory, when it is in a repository.
    pub fn capture(dir: &Path) -> Self {
        let commit = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let dirty = commit.as_ref().and_then(|_| {
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["status", "--porcelain", "--untracked-files=no"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| !o.stdout.is_empty())
        });
        Source { git_commit: commit, dirty }
    }
}

fn kernel_release() -> Option<String> {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = u.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// CPU model and physical core count from `/proc/cpuinfo`.
pub fn parse_cpuinfo(s: &str) -> (Option<String>, Option<u32>) {
    let mut model = None;
    let mut cores = std::collections::BTreeSet::new();
    let mut physical_id = None;
    for line in s.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "model name" | "Hardware" | "cpu model" if model.is_none() && !v.is_empty() => model = Some(v.to_string()),
            "physical id" => physical_id = Some(v.to_string()),
            "core id" => {
                cores.insert((physical_id.clone(), v.to_string()));
            }
            _ => {}
        }
    }
    (model, (!cores.is_empty()).then_some(cores.len() as u32))
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn parse_meminfo(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `PRETTY_NAME` from `/etc/os-release`.
pub fn parse_os_release(s: &str) -> Option<String> {
    let v = s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(v.trim().trim_matches('"').to_string())
}

/// Apple facts from sysctl keys and the `sw_vers -productVersion` output.
pub fn apple_from(sysctl: &dyn Fn(&str) -> Option<String>, macos_version: Option<String>) -> Apple {
    let num = |k: &str| sysctl(k).and_then(|v| v.trim().parse::<u64>().ok());
    Apple {
        chip: sysctl("machdep.cpu.brand_string").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        macos_version: macos_version.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        memory_bytes: num("hw.memsize"),
        performance_cores: num("hw.perflevel0.physicalcpu").map(|n| n as u32),
        efficiency_cores: num("hw.perflevel1.physicalcpu").map(|n| n as u32),
    }
}

fn sysctl(key: &str) -> Option<String> {
    command_output("sysctl", &["-n", key])
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program).args(args).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The project's Python environment: `$MLXPORT_VENV`, else `.venv` in the
/// working directory or one of its parents.
pub fn project_python() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("MLXPORT_VENV") {
        let p = PathBuf::from(v).join("bin/python");
        return p.exists().then_some(p);
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|a| a.join(".venv/bin/python")).find(|p| p.exists())
}

const VERSIONS_PY: &str = r#"
import json, platform, importlib.metadata as m
def v(name):
    try:
        return m.version(name)
    except Exception:
        return None
print(json.dumps({"python": platform.python_version(), "mlx": v("mlx"), "mlx_lm": v("mlx-lm")}))
"#;

fn python_stack() -> Option<PythonStack> {
    let py = project_python()?;
    let o = Command::new(py).args(["-I", "-c", VERSIONS_PY]).output().ok()?;
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linux_files() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 2\nphysical id\t: 0\ncore id\t: 1\n";
        assert_eq!(parse_cpuinfo(cpuinfo), (Some("AMD EPYC 7B13".into()), Some(2)));
        assert_eq!(parse_meminfo("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), Some(24_576_000 * 1024));
        assert_eq!(parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), Some("Debian GNU/Linux 12 (bookworm)".into()));
    }

    #[test]
    fn parses_apple_sysctl() {
        let keys = |k: &str| match k {
            "machdep.cpu.brand_string" => Some("Apple M2 Pro".to_string()),
            "hw.memsize" => Some("34359738368".to_string()),
            "hw.perflevel0.physicalcpu" => Some("8".to_string()),
            "hw.perflevel1.physicalcpu" => Some("4".to_string()),
            _ => None,
        };
        let a = apple_from(&keys, Some("14.5\n".into()));
        assert_eq!(
            a,
            Apple {
                chip: Some("Apple M2 Pro".into()),
                macos_version: Some("14.5".into()),
                memory_bytes: Some(32 << 30),
                performance_cores: Some(8),
                efficiency_cores: Some(4)
            }
        );
    }

    #[test]
    fn captures_this_machine_with_a_stable_hash() {
        let e = Environment::capture();
        assert!(e.logical_cores >= 1);
        assert_eq!(e.hash, e.compute_hash());
        assert!(e.differences(&e).is_empty());
        let mut other = e.clone();
        other.kernel = Some("different".into());
        assert_ne!(other.compute_hash(), e.hash);
        assert_eq!(e.differences(&other).len(), 1);
    }
}
