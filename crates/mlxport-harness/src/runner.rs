//! Running a Python step as a subprocess: its own process group (a timeout
//! kills the whole group, grandchildren included), bounded capture of stdout
//! and stderr, and a controlled environment (offline, no network, no user
//! site, optional fixed thread counts, optional BLAS preload).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Environment variables removed from every job: they could make Python
/// import code from elsewhere, or run something at start-up.
const SCRUBBED: &[&str] = &["PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "LD_PRELOAD", "VIRTUAL_ENV"];

/// Set for every job: Hugging Face libraries stay offline, Python is
/// isolated from the user's site directory, hashing is reproducible, and
/// any HTTP client that still tries the network meets a closed port.
const OFFLINE: &[(&str, &str)] = &[
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_DATASETS_OFFLINE", "1"),
    ("HF_HUB_DISABLE_TELEMETRY", "1"),
    ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1"),
    ("DO_NOT_TRACK", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
    ("PYTHONNOUSERSITE", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONHASHSEED", "0"),
    ("PYTHONUNBUFFERED", "1"),
    ("http_proxy", "http://127.0.0.1:9"),
    ("https_proxy", "http://127.0.0.1:9"),
    ("HTTP_PROXY", "http://127.0.0.1:9"),
    ("HTTPS_PROXY", "http://127.0.0.1:9"),
    ("no_proxy", ""),
    ("NO_PROXY", ""),
    // Read by the scripts' common module: refuse every socket connection
    // that is not a local (unix) socket.
    ("MLXPORT_NO_NETWORK", "1"),
];

/// One subprocess to run.
#[derive(Clone, Debug)]
pub struct Job {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept (head and tail halves).
    pub output_limit: usize,
    /// Copy the job's stderr to ours as it arrives (progress messages).
    pub echo_stderr: bool,
}

impl Job {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Job {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(1800),
            output_limit: 1 << 20,
            echo_stderr: false,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, it: I) -> Self {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn echo_stderr(mut self, on: bool) -> Self {
        self.echo_stderr = on;
        self
    }

    /// Fix the thread count of every math library the job may load.
    pub fn threads(self, n: usize) -> Self {
        let n = n.to_string();
        self.env("OMP_NUM_THREADS", &n).env("MKL_NUM_THREADS", &n).env("OPENBLAS_NUM_THREADS", &n).env("MLXPORT_THREADS", &n)
    }

    /// Preload a shared library (the optimized BLAS for MLX on Linux).
    pub fn preload(self, lib: &Path) -> Self {
        self.env("LD_PRELOAD", lib.as_os_str())
    }

    /// Run to completion or until the timeout, which kills the job's whole
    /// process group.
    pub fn run(&self) -> Result<Outcome> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        for (k, v) in OFFLINE {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| Error::io(&self.program, format!("cannot start {}", self.program.display()), e))?;
        let pgid = child.id() as i32;
        let out = Bounded::shared(self.output_limit);
        let err = Bounded::shared(self.output_limit);
        let t_out = pump(child.stdout.take().expect("piped"), out.clone(), false);
        let t_err = pump(child.stderr.take().expect("piped"), err.clone(), self.echo_stderr);
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait().map_err(|e| Error::io(&self.program, format!("cannot wait for {}", self.program.display()), e))? {
                break st;
            }
            if start.elapsed() >= self.timeout {
                timed_out = true;
                kill_group(pgid);
                break child.wait().map_err(|e| Error::io(&self.program, format!("cannot wait for {}", self.program.display()), e))?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Anything the script left running in its group goes too, so the
        // pipes close and nothing outlives the step.
        kill_group(pgid);
        let _ = t_out.join();
        let _ = t_err.join();
        let take = |b: Arc<Mutex<Bounded>>| Arc::try_unwrap(b).map(|m| m.into_inner().unwrap()).unwrap_or_else(|a| a.lock().unwrap().clone());
        Ok(Outcome { status, stdout: take(out), stderr: take(err), elapsed: start.elapsed(), timed_out, timeout: self.timeout })
    }
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: plain syscall; a group that is already gone gives ESRCH.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn pump<R: Read + Send + 'static>(mut r: R, into: Arc<Mutex<Bounded>>, echo: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if echo {
                        use std::io::Write;
                        let _ = std::io::stderr().write_all(&buf[..n]);
                    }
                    into.lock().unwrap().push(&buf[..n]);
                }
            }
        }
    })
}

/// Output kept within a limit: the first half and the last half of the
/// limit, and a count of what was dropped between them.
#[derive(Clone, Debug, Default)]
pub struct Bounded {
    limit: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    pub dropped: u64,
}

impl Bounded {
    fn shared(limit: usize) -> Arc<Mutex<Bounded>> {
        Arc::new(Mutex::new(Bounded { limit, ..Default::default() }))
    }

    fn push(&mut self, mut data: &[u8]) {
        let half = self.limit / 2;
        if self.head.len() < half {
            let n = (half - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        let cap = self.limit - half;
        for &b in data {
            if self.tail.len() == cap {
                self.tail.pop_front();
                self.dropped += 1;
            }
            if cap > 0 {
                self.tail.push_back(b);
            } else {
                self.dropped += 1;
            }
        }
    }

    /// The kept text (lossy UTF-8), with a marker where bytes were dropped.
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!("\n[... {} bytes dropped ...]\n", self.dropped));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        s.push_str(&String::from_utf8_lossy(&tail));
        s
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a finished job did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Bounded,
    pub stderr: Bounded,
    pub elapsed: Duration,
    pub timed_out: bool,
    pub timeout: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.success()
    }

    /// An error describing a failed job with the tail of its stderr, or Ok.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.timed_out {
            return Err(Error::StepTimedOut { what: what.into(), after: self.timeout, stderr_tail: tail_lines(&self.stderr.text(), 30) });
        }
        if !self.status.success() {
            let how = match (self.status.code(), self.status.signal()) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(s)) => format!("signal {s}"),
                _ => "unknown status".into(),
            };
            return Err(Error::Step { what: what.into(), how, stderr_tail: tail_lines(&summarize_traceback(&self.stderr.text()), 30) });
        }
        Ok(())
    }
}

/// A Python traceback in a step's output, reduced to what a user can act
/// on: the exception and the innermost frame it was raised in, instead of
/// the whole stack (`MLXPORT_TRACEBACK=1` keeps it whole). Lines outside
/// the traceback are kept.
pub fn summarize_traceback(text: &str) -> String {
    if std::env::var_os("MLXPORT_TRACEBACK").is_some_and(|v| v == "1") {
        return text.to_string();
    }
    let Some(start) = text.find("Traceback (most recent call last):") else { return text.to_string() };
    let (before, tb) = text.split_at(start);
    let lines: Vec<&str> = tb.lines().collect();
    // The exception is the first line after the frames that is not
    // indented; frames are `  File "...", line N, in f` plus code lines.
    let mut frame = None;
    let mut rest_at = lines.len();
    let mut exception = None;
    for (i, l) in lines.iter().enumerate().skip(1) {
        if let Some(f) = l.strip_prefix("  File ") {
            frame = Some(f.to_string());
        } else if !l.starts_with(' ') && !l.trim().is_empty() {
            exception = Some(l.trim().to_string());
            rest_at = i + 1;
            break;
        }
    }
    let at = frame.map(|f| {
        // `"/path/to/file.py", line 12, in fn` -> `file.py:12 in fn`.
        let file = f.split('"').nth(1).unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
        let line = f.split(", line ").nth(1).and_then(|x| x.split(',').next()).unwrap_or("?").to_string();
        let func = f.rsplit(", in ").next().unwrap_or("").to_string();
        format!("{file}:{line} in {func}")
    });
    let mut out = before.trim_end().to_string();
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "{}{} (set MLXPORT_TRACEBACK=1 for the whole Python traceback)",
        exception.unwrap_or_else(|| "a Python exception".into()),
        at.map(|a| format!(", raised at {a}")).unwrap_or_default()
    ));
    let rest: Vec<&str> = lines[rest_at.min(lines.len())..].iter().copied().filter(|l| !l.trim().is_empty()).collect();
    if !rest.is_empty() {
        out.push('\n');
        out.push_str(&rest.join("\n"));
    }
    out
}

/// The last `n` lines of a text.
pub fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceback_becomes_its_exception_and_innermost_frame() {
        let t = "loading x\nTraceback (most recent call last):\n  File \"/tmp/h/capture.py\", line 402, in <module>\n    main()\n  File \"/v/site-packages/mlx_lm/models/base.py\", line 15, in from_dict\n    return cls(\n           ^^^^\nTypeError: ModelArgs.__init__() missing 1 required positional argument: 'n_ctx'\n";
        let s = summarize_traceback(t);
        assert_eq!(
            s,
            "loading x\nTypeError: ModelArgs.__init__() missing 1 required positional argument: 'n_ctx', raised at base.py:15 in from_dict (set MLXPORT_TRACEBACK=1 for the whole Python traceback)"
        );
        assert!(!s.contains("Traceback"));
        assert_eq!(summarize_traceback("error: plain failure"), "error: plain failure");
    }

    #[test]
    fn bounded_keeps_head_and_tail() {
        let mut b = Bounded { limit: 8, ..Default::default() };
        b.push(b"0123456789abcdef");
        assert_eq!(b.head, b"0123");
        assert_eq!(b.tail.iter().copied().collect::<Vec<_>>(), b"cdef");
        assert_eq!(b.dropped, 8);
        assert!(b.text().contains("8 bytes dropped"));
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        // The shell starts a grandchild that would outlive a plain kill.
        let t0 = Instant::now();
        let o = Job::new("/bin/sh").arg("-c").arg("sleep 30 & sleep 30; echo never").timeout(Duration::from_millis(300)).run().unwrap();
        assert!(o.timed_out);
        assert!(t0.elapsed() < Duration::from_secs(10), "pipes closed only when the grandchild died");
        assert!(o.check("sleeper").unwrap_err().to_string().contains("timed out"));
    }

    #[test]
    fn output_is_bounded_and_env_is_offline() {
        let o = Job::new("/bin/sh")
            .arg("-c")
            .arg("yes x | head -c 100000; echo $HF_HUB_OFFLINE $TRANSFORMERS_OFFLINE $PYTHONPATH >&2")
            .env("X", "1")
            .output_limit(1000)
            .run()
            .unwrap();
        assert!(o.success());
        assert_eq!(o.stdout.len(), 1000);
        assert_eq!(o.stdout.dropped, 99000);
        assert_eq!(o.stderr.text().trim(), "1 1");
    }

    #[test]
    fn failure_reports_stderr_tail() {
        let o = Job::new("/bin/sh").arg("-c").arg("echo boom >&2; exit 3").run().unwrap();
        let e = o.check("step").unwrap_err().to_string();
        assert!(e.contains("exit code 3") && e.contains("boom"), "{e}");
    }
}
