//! What the allowlisted torch globals mean, and how a loaded pickle becomes
//! named tensors.
//!
//! [`TorchHost`] is the loader's policy for the pickle machine: it resolves
//! globals only against the allowlist (refusing everything else at the
//! opcode), turns persistent ids into storage references, and interprets
//! the rebuild functions as tensor *views* (storage, offset, shape, stride)
//! after checking them with checked arithmetic. [`flatten`] walks the
//! resulting state dict iteratively and names every tensor by its dotted
//! path; other leaves become metadata.

use std::collections::HashSet;
use std::path::Path;

use super::globals::{classify, full_name, Allowed, Class};
use super::pickle::{clip, CallKind, Fault, Heap, Host, Obj, Value};
use crate::dtype::DType;
use crate::{Error, Result};

/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 64;
/// Deepest dict/list nesting walked when naming tensors.
pub const MAX_NAME_DEPTH: usize = 64;
/// Most values visited while naming tensors.
const MAX_VISITS: usize = 8 << 20;
/// Most metadata entries kept.
const MAX_METADATA: usize = 10_000;

/// A host object of the loader.
#[derive(Clone, Copy, Debug)]
pub enum TorchObj {
    /// An allowlisted global.
    Global(Allowed),
    /// An index into [`TorchHost::storages`].
    Storage(usize),
    /// An index into [`TorchHost::views`].
    Tensor(usize),
}

/// A storage named by a persistent id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageRef {
    pub key: String,
    /// The storage class's dtype; `None` for an untyped (byte) storage.
    pub dtype: Option<DType>,
    /// Elements (bytes for an untyped storage).
    pub numel: u64,
    pub location: String,
}

impl StorageRef {
    /// Bytes the storage declares.
    pub fn nbytes(&self) -> Option<u64> {
        match self.dtype {
            Some(d) => d.byte_len(self.numel),
            None => Some(self.numel),
        }
    }
}

/// A tensor as a view of a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub storage: usize,
    pub dtype: DType,
    /// In elements of `dtype`.
    pub offset: u64,
    pub shape: Vec<u64>,
    /// In elements of `dtype`; never negative.
    pub stride: Vec<u64>,
    pub requires_grad: bool,
    pub parameter: bool,
}

impl View {
    /// Number of elements.
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &s| a.checked_mul(s))
    }

    /// Whether the view is row-major contiguous (dims of size 1 ignored).
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1u64;
        for (&s, &st) in self.shape.iter().zip(&self.stride).rev() {
            if s == 0 {
                return true;
            }
            if s != 1 && st != expect {
                return false;
            }
            expect = expect.saturating_mul(s);
        }
        true
    }

    /// The byte range of the storage the view touches (`0..0` when empty).
    /// A view whose range cannot be computed is refused.
    pub fn byte_extent(&self) -> std::result::Result<(u64, u64), Fault> {
        let isz = self.dtype.size().ok_or_else(|| Fault::refused(format!("dtype {} has no byte size", self.dtype)))? as u64;
        let overflow = || Fault::refused("offset, size and stride overflow 64-bit arithmetic");
        let numel = self.numel().ok_or_else(overflow)?;
        if numel == 0 {
            return Ok((0, 0));
        }
        let mut last = self.offset;
        for (&s, &st) in self.shape.iter().zip(&self.stride) {
            last = (s - 1).checked_mul(st).and_then(|x| last.checked_add(x)).ok_or_else(overflow)?;
        }
        let start = self.offset.checked_mul(isz).ok_or_else(overflow)?;
        let end = last.checked_add(1).and_then(|x| x.checked_mul(isz)).ok_or_else(overflow)?;
        Ok((start, end))
    }
}

/// The loader's policy: allowlisted globals, storages, tensor views.
#[derive(Default)]
pub struct TorchHost {
    pub storages: Vec<StorageRef>,
    pub views: Vec<View>,
}

fn int_arg(heap: &Heap<TorchObj>, v: Value, what: &str) -> Result<i64, Fault> {
    match v {
        Value::Int(i) => Ok(i),
        Value::Bool(b) => Ok(b as i64),
        other => Err(Fault::invalid(format!("{what} must be an integer, not {}", heap.type_name(other)))),
    }
}

fn bool_arg(heap: &Heap<TorchObj>, v: Value, what: &str) -> Result<bool, Fault> {
    match v {
        Value::Bool(b) => Ok(b),
        Value::Int(i) => Ok(i != 0),
        other => Err(Fault::invalid(format!("{what} must be a bool, not {}", heap.type_name(other)))),
    }
}

/// A tuple (or list) of non-negative integers.
fn dims_arg(heap: &Heap<TorchObj>, v: Value, what: &str) -> Result<Vec<u64>, Fault> {
    let items = match heap.get(v) {
        Some(Obj::Tuple(t) | Obj::List(t)) => t,
        _ => return Err(Fault::invalid(format!("{what} must be a tuple of integers, not {}", heap.type_name(v)))),
    };
    if items.len() > MAX_DIMS {
        return Err(Fault::refused(format!("{what} has {} dimensions; at most {MAX_DIMS} are allowed", items.len())));
    }
    items
        .iter()
        .map(|&x| {
            let i = int_arg(heap, x, what)?;
            if i < 0 {
                let rule = if what == "stride" { "negative strides are not supported" } else { "it must not be negative" };
                return Err(Fault::refused(format!("{what} {i} is negative: {rule}")));
            }
            Ok(i as u64)
        })
        .collect()
}

impl TorchHost {
    fn tensor_arg(&self, heap: &Heap<TorchObj>, v: Value, what: &str) -> Result<usize, Fault> {
        match heap.ext(v) {
            Some(TorchObj::Tensor(i)) => Ok(*i),
            _ => Err(Fault::invalid(format!("{what} must be a tensor, not {}", heap.type_name(v)))),
        }
    }

    fn push_view(&mut self, heap: &mut Heap<TorchObj>, view: View) -> Result<Value, Fault> {
        let idx = self.views.len();
        self.views.push(view);
        heap.alloc(Obj::Ext(TorchObj::Tensor(idx)))
    }

    /// `_rebuild_tensor_v2` / `_rebuild_tensor_v3`.
    fn rebuild_tensor(&mut self, heap: &mut Heap<TorchObj>, args: &[Value], v3: bool) -> Result<Value, Fault> {
        let fname = if v3 { "_rebuild_tensor_v3" } else { "_rebuild_tensor_v2" };
        let ok_len = if v3 { 7..=8 } else { 6..=7 };
        if !ok_len.contains(&args.len()) {
            return Err(Fault::invalid(format!("{fname} takes {ok_len:?} arguments, got {}", args.len())));
        }
        let storage = match heap.ext(args[0]) {
            Some(TorchObj::Storage(i)) => *i,
            _ => return Err(Fault::invalid(format!("{fname}: first argument must be a storage, not {}", heap.type_name(args[0])))),
        };
        let sref = self.storages.get(storage).ok_or_else(|| Fault::invalid("unknown storage"))?;
        let dtype = if v3 {
            match heap.ext(args[6]) {
                Some(TorchObj::Global(Allowed::Dtype(d))) => *d,
                _ => return Err(Fault::invalid(format!("{fname}: dtype argument must be a torch dtype, not {}", heap.type_name(args[6])))),
            }
        } else {
            sref.dtype.ok_or_else(|| Fault::invalid(format!("{fname} needs a typed storage, got an untyped one")))?
        };
        let offset = int_arg(heap, args[1], "storage offset")?;
        if offset < 0 {
            return Err(Fault::refused(format!("storage offset {offset} is negative")));
        }
        let shape = dims_arg(heap, args[2], "size")?;
        let stride = dims_arg(heap, args[3], "stride")?;
        if shape.len() != stride.len() {
            return Err(Fault::invalid(format!("size has {} dimensions but stride has {}", shape.len(), stride.len())));
        }
        let requires_grad = bool_arg(heap, args[4], "requires_grad")?;
        let view = View { storage, dtype, offset: offset as u64, shape, stride, requires_grad, parameter: false };
        check_view_fits(&view, sref)?;
        self.push_view(heap, view)
    }

    /// `_rebuild_parameter(_with_state)`: the tensor, marked a parameter.
    fn rebuild_parameter(&mut self, heap: &mut Heap<TorchObj>, args: &[Value], n: usize) -> Result<Value, Fault> {
        if args.len() != n {
            return Err(Fault::invalid(format!("parameter rebuild takes {n} arguments, got {}", args.len())));
        }
        let t = self.tensor_arg(heap, args[0], "parameter data")?;
        let mut view = self.views.get(t).cloned().ok_or_else(|| Fault::invalid("unknown tensor"))?;
        view.requires_grad = bool_arg(heap, args[1], "requires_grad")?;
        view.parameter = true;
        self.push_view(heap, view)
    }

    /// `_rebuild_from_type_v2(func, new_type, args, state)`.
    fn rebuild_from_type(&mut self, heap: &mut Heap<TorchObj>, args: &[Value]) -> Result<Value, Fault> {
        let [func, new_type, inner, _state] = args else {
            return Err(Fault::invalid(format!("_rebuild_from_type_v2 takes 4 arguments, got {}", args.len())));
        };
        let func = match heap.ext(*func) {
            Some(TorchObj::Global(
                g @ (Allowed::RebuildTensorV2 | Allowed::RebuildTensorV3 | Allowed::RebuildParameter | Allowed::RebuildParameterWithState),
            )) => *g,
            _ => return Err(Fault::invalid("_rebuild_from_type_v2: function must be a tensor rebuild function")),
        };
        let parameter = match heap.ext(*new_type) {
            Some(TorchObj::Global(Allowed::TensorType)) => false,
            Some(TorchObj::Global(Allowed::ParameterType)) => true,
            _ => return Err(Fault::unsupported("_rebuild_from_type_v2: tensor subclasses other than Parameter are not supported")),
        };
        let inner = heap.tuple(*inner).ok_or_else(|| Fault::invalid("_rebuild_from_type_v2: arguments must be a tuple"))?.to_vec();
        let v = match func {
            Allowed::RebuildTensorV2 => self.rebuild_tensor(heap, &inner, false)?,
            Allowed::RebuildTensorV3 => self.rebuild_tensor(heap, &inner, true)?,
            Allowed::RebuildParameter => self.rebuild_parameter(heap, &inner, 3)?,
            _ => self.rebuild_parameter(heap, &inner, 4)?,
        };
        if parameter {
            if let Some(TorchObj::Tensor(i)) = heap.ext(v) {
                if let Some(view) = self.views.get_mut(*i) {
                    view.parameter = true;
                }
            }
        }
        Ok(v)
    }
}

/// Check a view against the bytes its storage declares.
fn check_view_fits(view: &View, sref: &StorageRef) -> Result<(), Fault> {
    let have = sref.nbytes().ok_or_else(|| Fault::refused(format!("storage '{}' declares {} elements: byte size overflows", clip(&sref.key), sref.numel)))?;
    let (start, end) = view.byte_extent()?;
    if end > have || start > have {
        return Err(Fault::invalid(format!(
            "tensor view (offset {}, size {:?}, stride {:?}) needs bytes {start}..{end} of storage '{}', which holds {have} bytes: storage too small",
            view.offset,
            view.shape,
            view.stride,
            clip(&sref.key)
        )));
    }
    Ok(())
}

/// Copy the items of a tuple/list/set argument.
fn items_of(heap: &Heap<TorchObj>, v: Value, what: &str) -> Result<Vec<Value>, Fault> {
    match heap.get(v) {
        Some(Obj::Tuple(x) | Obj::List(x) | Obj::Set(x)) => Ok(x.clone()),
        _ => Err(Fault::invalid(format!("{what} must be a sequence, not {}", heap.type_name(v)))),
    }
}

impl Host for TorchHost {
    type Ext = TorchObj;

    fn global(&mut self, module: &str, name: &str) -> Result<TorchObj, Fault> {
        let full = full_name(module, name);
        match classify(module, name) {
            Class::Allowed(a) => Ok(TorchObj::Global(a)),
            Class::UnsupportedTensorType => Err(Fault::unsupported(format!("tensor type '{full}' is not supported"))),
            Class::Dangerous => {
                Err(Fault::refused(format!("global '{full}' is a known code-execution or I/O primitive and is not allowed; nothing was imported or run")))
            }
            Class::Unknown => {
                Err(Fault::refused(format!("global '{}' is not on the allowlist of tensor-rebuild globals; nothing was imported or run", clip(&full))))
            }
        }
    }

    fn call(&mut self, heap: &mut Heap<TorchObj>, callable: Value, args: Value, kwargs: Value, kind: CallKind) -> Result<Value, Fault> {
        let Some(TorchObj::Global(g)) = heap.ext(callable).copied() else {
            return Err(Fault::invalid(format!("a {} cannot be called", heap.type_name(callable))));
        };
        let args = heap.tuple(args).ok_or_else(|| Fault::invalid("call arguments must be a tuple"))?.to_vec();
        if let Some(Obj::Dict(d)) = heap.get(kwargs) {
            if !d.is_empty() {
                return Err(Fault::invalid("keyword arguments are not supported"));
            }
        }
        let reduce = kind == CallKind::Reduce;
        match g {
            Allowed::RebuildTensorV2 if reduce => self.rebuild_tensor(heap, &args, false),
            Allowed::RebuildTensorV3 if reduce => self.rebuild_tensor(heap, &args, true),
            Allowed::RebuildParameter if reduce => self.rebuild_parameter(heap, &args, 3),
            Allowed::RebuildParameterWithState if reduce => self.rebuild_parameter(heap, &args, 4),
            Allowed::RebuildFromTypeV2 if reduce => self.rebuild_from_type(heap, &args),
            Allowed::OrderedDict => match args.as_slice() {
                [] => heap.alloc(Obj::Dict(Vec::new())),
                [pairs] => {
                    let mut d = Vec::new();
                    for p in items_of(heap, *pairs, "OrderedDict items")? {
                        match heap.tuple(p) {
                            Some([k, v]) => d.push((*k, *v)),
                            _ => return Err(Fault::invalid("OrderedDict items must be (key, value) pairs")),
                        }
                    }
                    heap.alloc(Obj::Dict(d))
                }
                _ => Err(Fault::invalid("OrderedDict takes at most one argument")),
            },
            Allowed::TorchSize => match args.as_slice() {
                [] => heap.alloc(Obj::Tuple(Vec::new())),
                [dims] => {
                    let items = items_of(heap, *dims, "torch.Size argument")?;
                    heap.alloc(Obj::Tuple(items))
                }
                _ => Err(Fault::invalid("torch.Size takes one argument")),
            },
            Allowed::Set => match args.as_slice() {
                [] => heap.alloc(Obj::Set(Vec::new())),
                [items] => {
                    let items = items_of(heap, *items, "set argument")?;
                    heap.alloc(Obj::Set(items))
                }
                _ => Err(Fault::invalid("set takes one argument")),
            },
            Allowed::CodecsEncode if reduce => {
                let [text, enc] = args.as_slice() else {
                    return Err(Fault::invalid("_codecs.encode takes two arguments here"));
                };
                if !matches!(heap.str(*enc), Some("latin1" | "latin-1")) {
                    return Err(Fault::unsupported("_codecs.encode with an encoding other than latin1"));
                }
                let s = heap.str(*text).ok_or_else(|| Fault::invalid("_codecs.encode needs a string"))?;
                let bytes = s
                    .chars()
                    .map(|c| u8::try_from(c as u32).map_err(|_| Fault::invalid("latin1 text holds a character above U+00FF")))
                    .collect::<Result<Vec<u8>, Fault>>()?;
                heap.count_derived_bytes(bytes.len())?;
                heap.alloc(Obj::Bytes(bytes))
            }
            other => Err(Fault::invalid(format!("{other:?} cannot be called this way ({kind:?})"))),
        }
    }

    fn persistent_load(&mut self, heap: &mut Heap<TorchObj>, pid: Value) -> Result<Value, Fault> {
        let Some(t) = heap.tuple(pid) else {
            return Err(Fault::unsupported(format!("persistent id of type {} (expected a storage tuple)", heap.type_name(pid))));
        };
        let [tag, stype, key, location, numel] = t else {
            return Err(Fault::unsupported(format!("persistent id with {} fields (expected ('storage', type, key, location, numel))", t.len())));
        };
        if heap.str(*tag) != Some("storage") {
            return Err(Fault::unsupported("persistent id is not a 'storage' reference"));
        }
        let dtype = match heap.ext(*stype) {
            Some(TorchObj::Global(Allowed::Storage(d))) => *d,
            _ => return Err(Fault::invalid(format!("storage type must be a torch storage class, not {}", heap.type_name(*stype)))),
        };
        let key = match (heap.str(*key), key) {
            (Some(s), _) => s.to_owned(),
            (None, Value::Int(i)) => i.to_string(),
            _ => return Err(Fault::invalid("storage key must be a string")),
        };
        let location = heap.str(*location).ok_or_else(|| Fault::invalid("storage location must be a string"))?.to_owned();
        let numel = int_arg(heap, *numel, "storage size")?;
        let numel = u64::try_from(numel).map_err(|_| Fault::invalid(format!("storage size {numel} is negative")))?;
        let sref = StorageRef { key, dtype, numel, location };
        let idx = match self.storages.iter().position(|s| *s == sref) {
            Some(i) => i,
            None => {
                self.storages.push(sref);
                self.storages.len() - 1
            }
        };
        heap.alloc(Obj::Ext(TorchObj::Storage(idx)))
    }

    fn build(&mut self, heap: &mut Heap<TorchObj>, obj: Value, _state: Value) -> Result<(), Fault> {
        match heap.get(obj) {
            // State on a tensor or an OrderedDict is Python attributes: not
            // tensor data, so it is ignored.
            Some(Obj::Ext(TorchObj::Tensor(_)) | Obj::Dict(_)) => Ok(()),
            _ => Err(Fault::invalid(format!("BUILD on a {} is not allowed", heap.type_name(obj)))),
        }
    }
}

/// Named tensors and other leaves of a state dict.
#[derive(Debug, Default)]
pub struct Flat {
    /// (dotted name, view index), in the pickle's order.
    pub tensors: Vec<(String, usize)>,
    /// (dotted name, rendered value) of non-tensor leaves.
    pub metadata: Vec<(String, String)>,
}

/// Walk the top-level object: a dict of tensors, possibly nested
/// (`{"state_dict": {...}}`), flattened to dotted names. `path` and
/// `member` (the pickle's name in the archive) name the file in the
/// [`Error::Invalid`] a broken rule gives.
pub fn flatten(path: &Path, member: &str, heap: &Heap<TorchObj>, root: Value) -> Result<Flat> {
    flatten_rule(heap, root).map_err(|rule| Error::invalid(path, super::FORMAT, format!("{member}: {rule}")))
}

fn flatten_rule(heap: &Heap<TorchObj>, root: Value) -> std::result::Result<Flat, String> {
    match heap.get(root) {
        Some(Obj::Dict(_)) => {}
        Some(Obj::Ext(TorchObj::Tensor(_))) => return Err("the top-level object is a single tensor, expected a dict of named tensors (a state dict)".into()),
        _ => return Err(format!("the top-level object is a {}, expected a dict of named tensors (a state dict)", heap.type_name(root))),
    }
    let mut flat = Flat::default();
    let mut seen = HashSet::new();
    let mut omitted = 0usize;
    let mut visits = 0usize;
    let mut todo: Vec<(String, Value, usize)> = vec![(String::new(), root, 0)];
    while let Some((name, v, depth)) = todo.pop() {
        visits += 1;
        if visits > MAX_VISITS {
            return Err(format!("the state dict has more than {MAX_VISITS} entries (shared sub-dicts repeat?)"));
        }
        let children: Vec<(String, Value)> = match heap.get(v) {
            Some(Obj::Dict(d)) if !d.is_empty() => {
                let mut c = Vec::with_capacity(d.len());
                for (k, x) in d {
                    c.push((key_text(heap, *k)?, *x));
                }
                c
            }
            Some(Obj::List(l) | Obj::Tuple(l)) if !l.is_empty() => l.iter().enumerate().map(|(i, x)| (i.to_string(), *x)).collect(),
            Some(Obj::Ext(TorchObj::Tensor(i))) => {
                if !seen.insert(name.clone()) {
                    return Err(format!("tensor name '{}' appears twice", clip(&name)));
                }
                flat.tensors.push((name, *i));
                continue;
            }
            _ => {
                if flat.metadata.len() < MAX_METADATA {
                    flat.metadata.push((name, render(heap, v)));
                } else {
                    omitted += 1;
                }
                continue;
            }
        };
        if depth >= MAX_NAME_DEPTH {
            return Err(format!("dicts and lists nested deeper than {MAX_NAME_DEPTH} levels at '{}'", clip(&name)));
        }
        for (k, x) in children.into_iter().rev() {
            let child = if name.is_empty() { k } else { format!("{name}.{k}") };
            todo.push((child, x, depth + 1));
        }
    }
    if omitted > 0 {
        flat.metadata.push(("(omitted)".into(), format!("{omitted} more non-tensor values")));
    }
    Ok(flat)
}

fn key_text(heap: &Heap<TorchObj>, k: Value) -> std::result::Result<String, String> {
    Ok(match k {
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if b { "True" } else { "False" }.into(),
        Value::None => "None".into(),
        Value::Float(f) => f.to_string(),
        Value::Obj(_) => match heap.get(k) {
            Some(Obj::Str(s)) => s.clone(),
            _ => return Err(format!("a dict key of type {} cannot name a tensor", heap.type_name(k))),
        },
    })
}

/// A one-line rendering of a non-tensor leaf.
fn render(heap: &Heap<TorchObj>, v: Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => if b { "True" } else { "False" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Obj(_) => match heap.get(v) {
            Some(Obj::Str(s)) => format!("{:?}", clip(s)),
            Some(Obj::Bytes(b)) => format!("<{} bytes>", b.len()),
            Some(Obj::BigInt(s)) => s.clone(),
            Some(Obj::Tuple(_)) => "()".into(),
            Some(Obj::List(_)) => "[]".into(),
            Some(Obj::Dict(_)) => "{}".into(),
            Some(Obj::Set(s)) => format!("<set of {} items>", s.len()),
            Some(Obj::Ext(TorchObj::Storage(_))) => "<storage>".into(),
            Some(Obj::Ext(TorchObj::Global(g))) => format!("<{g:?}>"),
            Some(Obj::Ext(TorchObj::Tensor(_))) | None => "<object>".into(),
        },
    }
}
