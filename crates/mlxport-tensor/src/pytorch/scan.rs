//! Static scan of pickles: which globals does a file reference?
//!
//! The scan runs the same opcode decoder as the loader with a host that
//! records every global (`GLOBAL`, `STACK_GLOBAL` with operands resolved
//! through the memo, `INST`, extension codes) and treats every call as an
//! opaque result, so nothing is ever interpreted or executed. Each global is
//! classed against the loader's allowlist and a list of known-dangerous
//! modules and builtins. A file made of several pickles back to back (the
//! legacy format) has all of them scanned; a pickle that breaks off early
//! still reports the globals it referenced before the break, since a real
//! unpickler would already have acted on them.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::archive::{has_zip_signature, Archive};
use super::globals::{classify, full_name, Class};
use super::pickle::{run, CallKind, Fault, Heap, Host, Limits, Obj, Value};
use crate::error::{Error, Result};

/// Most pickles scanned back to back in one file.
const MAX_PICKLES: usize = 16;

/// What a scan concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Only allowlisted tensor-rebuild globals, and the pickle parsed whole.
    TensorOnly,
    /// Known code-execution / import / I/O globals (named `module.name`).
    Dangerous(Vec<String>),
    /// Globals off the allowlist but not known to be dangerous, or a pickle
    /// that could not be parsed to the end (named globals, maybe none).
    Unknown(Vec<String>),
}

impl Verdict {
    fn rank(&self) -> u8 {
        match self {
            Verdict::TensorOnly => 0,
            Verdict::Unknown(_) => 1,
            Verdict::Dangerous(_) => 2,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::TensorOnly => f.write_str("tensor-only"),
            Verdict::Dangerous(g) => write!(f, "dangerous: {}", g.join(", ")),
            Verdict::Unknown(g) if g.is_empty() => f.write_str("unknown"),
            Verdict::Unknown(g) => write!(f, "unknown globals: {}", g.join(", ")),
        }
    }
}

/// The result of scanning one pickle stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleScan {
    /// Every distinct global referenced, as (module, name), in order.
    pub globals: Vec<(String, String)>,
    pub verdict: Verdict,
    /// How many complete pickles were read.
    pub pickles: usize,
    /// Why the scan stopped early, if it did.
    pub error: Option<String>,
}

/// Scan one pickle (or several back to back) without executing anything.
pub fn scan_pickle(data: &[u8]) -> PickleScan {
    let limits = Limits::default();
    let mut host = Recorder::default();
    let mut start = 0;
    let mut pickles = 0;
    let mut error = None;
    let data = &data[..data.len().min(limits.max_input)];
    while pickles < MAX_PICKLES {
        match run(data, start, &mut host, &limits) {
            Ok(u) => {
                pickles += 1;
                start = u.end;
                // Another pickle follows only if a protocol header does.
                if data.get(start) != Some(&0x80) {
                    break;
                }
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let verdict = verdict_of(&host.globals, error.is_some());
    PickleScan { globals: host.globals, verdict, pickles, error }
}

fn verdict_of(globals: &[(String, String)], broken: bool) -> Verdict {
    let mut dangerous = Vec::new();
    let mut unknown = Vec::new();
    for (m, n) in globals {
        match classify(m, n) {
            Class::Dangerous => dangerous.push(full_name(m, n)),
            Class::Unknown => unknown.push(full_name(m, n)),
            Class::Allowed(_) | Class::UnsupportedTensorType => {}
        }
    }
    if !dangerous.is_empty() {
        Verdict::Dangerous(dangerous)
    } else if !unknown.is_empty() || broken {
        Verdict::Unknown(unknown)
    } else {
        Verdict::TensorOnly
    }
}

/// Records globals; every call yields an opaque object.
#[derive(Default)]
struct Recorder {
    globals: Vec<(String, String)>,
}

/// What the recorder puts on the heap.
#[derive(Clone, Debug)]
enum Opaque {
    Global,
    Result,
}

impl Recorder {
    fn note(&mut self, module: &str, name: &str) {
        if !self.globals.iter().any(|(m, n)| m == module && n == name) && self.globals.len() < 10_000 {
            self.globals.push((module.to_owned(), name.to_owned()));
        }
    }
}

impl Host for Recorder {
    type Ext = Opaque;
    fn global(&mut self, module: &str, name: &str) -> Result<Opaque, Fault> {
        self.note(module, name);
        Ok(Opaque::Global)
    }
    fn extension(&mut self, code: u32) -> Result<Opaque, Fault> {
        self.note("copyreg", &format!("extension_code_{code}"));
        Ok(Opaque::Global)
    }
    fn call(&mut self, heap: &mut Heap<Opaque>, _: Value, _: Value, _: Value, _: CallKind) -> Result<Value, Fault> {
        heap.alloc(Obj::Ext(Opaque::Result))
    }
    fn persistent_load(&mut self, heap: &mut Heap<Opaque>, _: Value) -> Result<Value, Fault> {
        heap.alloc(Obj::Ext(Opaque::Result))
    }
    fn add_items(&mut self, _: &mut Heap<Opaque>, _: Value, _: Vec<Value>) -> Result<(), Fault> {
        Ok(())
    }
    fn build(&mut self, _: &mut Heap<Opaque>, _: Value, _: Value) -> Result<(), Fault> {
        Ok(())
    }
}

/// What kind of file was scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A zip holding a `data.pkl` (a torch.save checkpoint or TorchScript).
    TorchZip,
    /// Another zip; its `.pkl` members were scanned.
    Zip,
    /// A bare pickle stream (legacy torch.save, or plain pickle).
    Pickle,
}

/// The scan of one pickle member (or the whole file for a bare pickle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberScan {
    /// The zip member's name; empty for a bare pickle.
    pub member: String,
    pub scan: PickleScan,
}

/// The scan of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileScan {
    pub path: PathBuf,
    pub kind: FileKind,
    pub members: Vec<MemberScan>,
    /// The worst verdict over all members.
    pub verdict: Verdict,
}

impl FileScan {
    /// Every distinct global over all members.
    pub fn globals(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for g in self.members.iter().flat_map(|m| &m.scan.globals) {
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }
}

/// A short human-readable report: the verdict, then one line per pickle.
impl std::fmt::Display for FileScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            FileKind::TorchZip => "PyTorch zip",
            FileKind::Zip => "zip",
            FileKind::Pickle => "bare pickle",
        };
        writeln!(f, "{} ({kind}): {}", self.path.display(), self.verdict)?;
        for m in &self.members {
            let name = if m.member.is_empty() { "(pickle)" } else { m.member.as_str() };
            let globals: Vec<String> = m.scan.globals.iter().map(|(a, b)| full_name(a, b)).collect();
            write!(f, "  {name}: {}; globals: {}", m.scan.verdict, globals.join(", "))?;
            if let Some(e) = &m.scan.error {
                write!(f, "; stopped: {e}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Scan a file: every `.pkl` member of a zip (a torch checkpoint's
/// `data.pkl` and any other), or a bare pickle file.
pub fn scan_file(path: &Path) -> Result<FileScan> {
    let limits = Limits::default();
    let mut head = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    file.take(limits.max_input as u64).read_to_end(&mut head).map_err(|e| Error::io(path, "read", e))?;
    if has_zip_signature(&head) {
        drop(head);
        return scan_zip(path, &limits);
    }
    if head.is_empty() {
        return Err(Error::invalid(path, "pickle", "the file is empty"));
    }
    let scan = scan_pickle(&head);
    let verdict = scan.verdict.clone();
    Ok(FileScan { path: path.to_path_buf(), kind: FileKind::Pickle, members: vec![MemberScan { member: String::new(), scan }], verdict })
}

fn scan_zip(path: &Path, limits: &Limits) -> Result<FileScan> {
    let archive = Archive::open(path)?;
    let mut members = Vec::new();
    let mut torch = false;
    for m in archive.members() {
        if !m.name.ends_with(".pkl") {
            continue;
        }
        torch |= m.name == "data.pkl" || m.name.ends_with("/data.pkl");
        let scan = match archive.read_small(m, limits.max_input as u64) {
            Ok(bytes) => scan_pickle(&bytes),
            Err(e) => PickleScan { globals: Vec::new(), verdict: Verdict::Unknown(Vec::new()), pickles: 0, error: Some(e.to_string()) },
        };
        members.push(MemberScan { member: m.name.clone(), scan });
    }
    let verdict = members.iter().map(|m| &m.scan.verdict).max_by_key(|v| v.rank()).cloned().unwrap_or(Verdict::TensorOnly);
    let kind = if torch { FileKind::TorchZip } else { FileKind::Zip };
    Ok(FileScan { path: path.to_path_buf(), kind, members, verdict })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_global_through_memo_is_named() {
        // 'os' and 'system' memoized, fetched back, then STACK_GLOBAL + call.
        let p = [
            0x80, 4, 0x8c, 2, b'o', b's', 0x94, 0x8c, 6, b's', b'y', b's', b't', b'e', b'm', 0x94, b'0', b'0', b'h', 0, b'h', 1, 0x93, 0x8c, 1, b'x', 0x85,
            b'R', b'.',
        ];
        let s = scan_pickle(&p);
        assert_eq!(s.globals, vec![("os".to_owned(), "system".to_owned())]);
        assert_eq!(s.verdict, Verdict::Dangerous(vec!["os.system".into()]));
        assert!(s.error.is_none());
    }

    #[test]
    fn broken_pickle_still_reports_earlier_globals() {
        let s = scan_pickle(b"cbuiltins\nexec\n\xff");
        assert_eq!(s.verdict, Verdict::Dangerous(vec!["builtins.exec".into()]));
        assert!(s.error.is_some());
        let s = scan_pickle(b"ccollections\nOrderedDict\n\xff");
        assert_eq!(s.verdict, Verdict::Unknown(vec![]));
    }

    #[test]
    fn second_pickle_is_scanned() {
        let s = scan_pickle(b"\x80\x02K\x01.\x80\x02cposix\nsystem\n.");
        assert_eq!(s.pickles, 2);
        assert_eq!(s.verdict, Verdict::Dangerous(vec!["posix.system".into()]));
    }
}
