//! One run of a command, measured by the kernel.
//!
//! The command starts in a process group of its own (its pid is the group
//! id). The runner blocks in `waitid(WNOWAIT)` until it exits — the exited
//! leader stays a zombie, so its group id cannot be reused — then kills
//! whatever the command left running in its group, and reaps it with
//! `wait4`, whose resource usage gives:
//!
//! - user and system CPU time of the command and every descendant it waited
//!   for;
//! - peak RSS: the kernel's `ru_maxrss` of the reaped child, which is the
//!   largest resident set of any *single* process among the child and the
//!   descendants it waited for — not the sum of processes alive at the same
//!   time. For a command that does its work in one process (the usual case,
//!   including a shell that runs one program) it is that process's peak.
//!   On Linux the kernel also folds the *spawning* process's own peak RSS
//!   into the child's at `exec` (the memory it replaced), so a command that
//!   stays smaller than the runner reports the runner's peak. Every run
//!   records that floor (`rss_floor_bytes`, the runner's own peak when it
//!   spawned the run); a peak at or below it means "at most this much".
//!
//! Wall time runs from just before the spawn to the moment the leader
//! exits. A timeout kills the whole process group with `SIGKILL`; a
//! descendant that left the group (`setsid`, `setpgid`) escapes, as with
//! every group-based runner.
//!
//! Output is read by a watcher thread that keeps only the last
//! `capture_bytes` of stdout and of stderr, so memory stays bounded whatever
//! the command prints. The same thread enforces the timeout. It is started
//! once and reused for every run.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::CommandSpec;

/// What happens to the command's stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// Read and keep the last `capture_bytes` of each.
    Capture,
    /// Send both to /dev/null.
    Null,
    /// Pass the benchmark's own stdout and stderr through.
    Inherit,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub timeout: Option<Duration>,
    pub output: OutputMode,
    /// How much of the end of stdout and of stderr to keep.
    pub capture_bytes: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { timeout: None, output: OutputMode::Capture, capture_bytes: 16 << 10 }
    }
}

/// The measurements of one run, as stored in receipts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Wall-clock seconds from spawn to exit.
    pub wall_s: f64,
    /// User CPU seconds (the command and the descendants it waited for).
    pub user_s: f64,
    /// System CPU seconds (same).
    pub system_s: f64,
    /// Peak resident set of the largest single process (see the module
    /// doc), bytes.
    pub max_rss_bytes: u64,
    /// The runner's own peak RSS when it spawned this run: on Linux the
    /// lowest `max_rss_bytes` can report (see the module doc).
    #[serde(default)]
    pub rss_floor_bytes: u64,
    /// Exit code, when the command exited.
    pub exit_code: Option<i32>,
    /// Terminating signal, when a signal ended it.
    pub signal: Option<i32>,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// Further measurements a workload reports about itself (for example
    /// tokens per second of a generation benchmark), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl Run {
    /// The peak RSS is the runner's floor, not the command's own (which
    /// is at most this).
    pub fn rss_at_floor(&self) -> bool {
        self.max_rss_bytes <= self.rss_floor_bytes
    }

    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A measurement by name: `wall_s`, `user_s`, `system_s`,
    /// `max_rss_bytes`, or one of `extra`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "wall_s" => Some(self.wall_s),
            "user_s" => Some(self.user_s),
            "system_s" => Some(self.system_s),
            "max_rss_bytes" => Some(self.max_rss_bytes as f64),
            other => self.extra.get(other).copied(),
        }
    }

    /// "exit code 3", "killed by signal 9", "timed out".
    pub fn status_text(&self) -> String {
        if self.timed_out {
            "timed out (process group killed)".into()
        } else if let Some(c) = self.exit_code {
            format!("exit code {c}")
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            "unknown status".into()
        }
    }
}

/// The last bytes of an output stream and how much it wrote in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    pub bytes: Vec<u8>,
    pub total: u64,
}

impl Tail {
    fn push(&mut self, data: &[u8], cap: usize) {
        self.total += data.len() as u64;
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > cap.saturating_mul(2).max(4096) {
            let cut = self.bytes.len() - cap;
            self.bytes.drain(..cut);
        }
    }
    fn finish(&mut self, cap: usize) {
        if self.bytes.len() > cap {
            let cut = self.bytes.len() - cap;
            self.bytes.drain(..cut);
        }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A run with the tails of its output.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run: Run,
    pub stdout: Tail,
    pub stderr: Tail,
}

/// Run a command once.
pub fn run_once(cmd: &CommandSpec, opts: &RunOptions) -> crate::Result<Outcome> {
    let program = cmd.argv[0].clone();
    let mut c = Command::new(&cmd.argv[0]);
    c.args(&cmd.argv[1..]).stdin(Stdio::null()).process_group(0);
    let (out, err) = match opts.output {
        OutputMode::Capture => (Stdio::piped(), Stdio::piped()),
        OutputMode::Null => (Stdio::null(), Stdio::null()),
        OutputMode::Inherit => (Stdio::inherit(), Stdio::inherit()),
    };
    c.stdout(out).stderr(err);

    let needs_watcher = opts.timeout.is_some() || opts.output == OutputMode::Capture;
    if needs_watcher {
        WATCHER
            .with(|w| -> std::io::Result<()> {
                let mut w = w.borrow_mut();
                if w.is_none() {
                    *w = Some(Worker::start()?);
                }
                Ok(())
            })
            .map_err(|source| crate::Error::Spawn { program: program.clone(), source })?;
    }

    let rss_floor_bytes = self_max_rss();
    let start = Instant::now();
    let mut child = c.spawn().map_err(|source| crate::Error::Spawn { program: program.clone(), source })?;
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let job = Job { pgid: pid, stdout, stderr, deadline: opts.timeout.map(|t| start + t), cap: opts.capture_bytes };
    let watching = needs_watcher && WATCHER.with(|w| w.borrow().as_ref().is_some_and(|w| w.jobs.send(job).is_ok()));

    // Wait for the exit without reaping: the zombie keeps the group id ours.
    let waited = wait_exited(pid);
    let wall = start.elapsed();
    // Anything the command left running in its group goes now.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let (killed, stdout, stderr) =
        if watching { WATCHER.with(|w| w.borrow_mut().as_mut().and_then(Worker::finish)).unwrap_or_default() } else { Default::default() };
    waited.map_err(|source| crate::Error::Wait { program: program.clone(), source })?;
    let (status, usage) = reap(pid).map_err(|source| crate::Error::Wait { program, source })?;
    drop(child);

    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let run = Run {
        wall_s: wall.as_secs_f64(),
        user_s: tv(usage.ru_utime),
        system_s: tv(usage.ru_stime),
        max_rss_bytes: maxrss_bytes(usage.ru_maxrss),
        rss_floor_bytes,
        exit_code,
        signal,
        timed_out: killed && signal == Some(libc::SIGKILL),
        extra: BTreeMap::new(),
    };
    Ok(Outcome { run, stdout, stderr })
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

#[cfg(target_os = "macos")]
fn maxrss_bytes(v: libc::c_long) -> u64 {
    v.max(0) as u64
}

#[cfg(not(target_os = "macos"))]
fn maxrss_bytes(v: libc::c_long) -> u64 {
    v.max(0) as u64 * 1024
}

fn self_max_rss() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    maxrss_bytes(usage.ru_maxrss)
}

fn wait_exited(pid: libc::pid_t) -> std::io::Result<()> {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn reap(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One watcher thread per runner thread, reused for every run: it reads
/// the output pipes and enforces the deadline of one run at a time until the
/// runner wakes it through a pipe.
struct Worker {
    jobs: std::sync::mpsc::Sender<Job>,
    done: std::sync::mpsc::Receiver<(bool, Tail, Tail)>,
    wake: std::io::PipeWriter,
}

thread_local! {
    static WATCHER: std::cell::RefCell<Option<Worker>> = const { std::cell::RefCell::new(None) };
}

impl Worker {
    fn start() -> std::io::Result<Worker> {
        let (wake_r, wake_w) = std::io::pipe()?;
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("bench-watcher".into()).spawn(move || {
            let mut wake = wake_r;
            for job in jobs_rx {
                if done_tx.send(job.watch(&mut wake)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Worker { jobs: jobs_tx, done: done_rx, wake: wake_w })
    }

    /// Wake the watcher (the command has exited) and take its result.
    fn finish(&mut self) -> Option<(bool, Tail, Tail)> {
        self.wake.write_all(b"x").ok()?;
        self.done.recv().ok()
    }
}

/// What the watcher does for one run.
struct Job {
    pgid: libc::pid_t,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    deadline: Option<Instant>,
    cap: usize,
}

impl Job {
    /// Returns (killed by the timeout, stdout tail, stderr tail).
    fn watch(mut self, wake: &mut std::io::PipeReader) -> (bool, Tail, Tail) {
        let mut tails = [Tail::default(), Tail::default()];
        let mut open = [self.stdout.is_some(), self.stderr.is_some()];
        let mut killed = false;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
            fds.push(libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            let mut which = Vec::with_capacity(2);
            if open[0] {
                fds.push(libc::pollfd { fd: self.stdout.as_ref().map_or(-1, |s| s.as_raw_fd()), events: libc::POLLIN, revents: 0 });
                which.push(0);
            }
            if open[1] {
                fds.push(libc::pollfd { fd: self.stderr.as_ref().map_or(-1, |s| s.as_raw_fd()), events: libc::POLLIN, revents: 0 });
                which.push(1);
            }
            let timeout_ms = match self.deadline {
                Some(d) if !killed => {
                    let left = d.saturating_duration_since(Instant::now());
                    left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
                }
                _ => -1,
            };
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if r < 0 {
                if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            if r == 0 {
                if let Some(d) = self.deadline {
                    if !killed && Instant::now() >= d {
                        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
                        killed = true;
                    }
                }
                continue;
            }
            for (pfd, &i) in fds[1..].iter().zip(&which) {
                if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    match self.read(i, &mut buf) {
                        Ok(0) => open[i] = false,
                        Ok(n) => tails[i].push(&buf[..n], self.cap),
                        Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => open[i] = false,
                    }
                }
            }
            if fds[0].revents != 0 {
                let _ = wake.read(&mut [0u8; 1]);
                // The command has exited: take what is already in the pipes
                // without waiting for writers that escaped the group.
                for i in 0..2 {
                    if !open[i] {
                        continue;
                    }
                    self.set_nonblocking(i);
                    loop {
                        match self.read(i, &mut buf) {
                            Ok(0) => break,
                            Ok(n) => tails[i].push(&buf[..n], self.cap),
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                }
                break;
            }
        }
        for t in &mut tails {
            t.finish(self.cap);
        }
        let [o, e] = tails;
        (killed, o, e)
    }

    fn read(&mut self, i: usize, buf: &mut [u8]) -> std::io::Result<usize> {
        match i {
            0 => self.stdout.as_mut().map_or(Ok(0), |s| s.read(buf)),
            _ => self.stderr.as_mut().map_or(Ok(0), |s| s.read(buf)),
        }
    }

    fn set_nonblocking(&self, i: usize) {
        let fd = match i {
            0 => self.stdout.as_ref().map(|s| s.as_raw_fd()),
            _ => self.stderr.as_ref().map(|s| s.as_raw_fd()),
        };
        if let Some(fd) = fd {
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandSpec {
        CommandSpec::parse(script, true).unwrap()
    }

    #[test]
    fn exit_status_and_output() {
        let o = run_once(&sh("echo out; echo err >&2; exit 3"), &RunOptions::default()).unwrap();
        assert_eq!((o.run.exit_code, o.run.signal, o.run.timed_out), (Some(3), None, false));
        assert_eq!((o.stdout.text().as_str(), o.stderr.text().as_str()), ("out\n", "err\n"));
        assert!(!o.run.succeeded());
        let o = run_once(&sh("kill -9 $$"), &RunOptions::default()).unwrap();
        assert_eq!((o.run.exit_code, o.run.signal, o.run.timed_out), (None, Some(9), false));
        assert_eq!(o.run.status_text(), "killed by signal 9");
        let o = run_once(&sh("exit 0"), &RunOptions { output: OutputMode::Null, ..RunOptions::default() }).unwrap();
        assert!(o.run.succeeded() && o.stdout.bytes.is_empty());
    }

    #[test]
    fn timeout_and_a_writer_that_escapes() {
        // The background writer keeps the pipe open after `sh` exits; the
        // runner must not wait for it, and kills it with the group.
        let t = Instant::now();
        let o = run_once(&sh("(sleep 30; echo late) & echo early"), &RunOptions::default()).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(o.stdout.text(), "early\n");
        let o = run_once(&sh("sleep 30"), &RunOptions { timeout: Some(Duration::from_millis(200)), ..RunOptions::default() }).unwrap();
        assert!(o.run.timed_out && o.run.wall_s >= 0.2 && o.run.wall_s < 10.0, "{:?}", o.run);
        assert_eq!(o.run.status_text(), "timed out (process group killed)");
    }

    #[test]
    fn tails_keep_the_end() {
        let mut t = Tail::default();
        for i in 0..10_000u32 {
            t.push(format!("{i:05}\n").as_bytes(), 12);
        }
        t.finish(12);
        assert_eq!((t.text().as_str(), t.total), ("09998\n09999\n", 60_000));
    }
}
