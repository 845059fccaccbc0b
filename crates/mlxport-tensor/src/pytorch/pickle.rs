//! A restricted pickle virtual machine.
//!
//! It decodes every opcode of pickle protocols 0 to 5 and builds plain data
//! (numbers, strings, bytes, tuples, lists, dicts, sets) in an arena, but it
//! never imports or calls anything. The four places where a real unpickler
//! would run code — resolving a global, calling it (`REDUCE`, `NEWOBJ`,
//! `INST`, `OBJ`), `BUILD`, and persistent ids — are handed to a [`Host`]
//! that decides what they mean. The loader's host resolves globals only
//! against an allowlist and refuses everything else at the `GLOBAL` opcode;
//! the scanner's host records globals and never interprets calls.
//!
//! Everything is bounded: the input size, the stack, the mark stack, the
//! memo, the number of objects and container items, the nesting depth of
//! containers, line lengths, and every length prefix is checked against the
//! input that remains before anything is allocated. The machine is a loop
//! over opcodes with explicit stacks; nothing recurses on the input's
//! structure, so deeply nested input cannot overflow the Rust stack.

use std::collections::HashMap;
use std::fmt;

/// Resource limits of one run of the machine.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest pickle accepted, in bytes.
    pub max_input: usize,
    /// Most values on the stack at once.
    pub max_stack: usize,
    /// Most open marks at once.
    pub max_marks: usize,
    /// Most memo entries.
    pub max_memo: usize,
    /// Most objects (strings, containers, ...) created.
    pub max_objects: usize,
    /// Most container elements stored, summed over all containers.
    pub max_items: usize,
    /// Deepest container nesting.
    pub max_depth: u32,
    /// Longest text line of the protocol-0 opcodes.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input: 64 << 20,
            max_stack: 1 << 18,
            max_marks: 1 << 20,
            max_memo: 1 << 20,
            max_objects: 1 << 20,
            max_items: 2 << 20,
            max_depth: 1000,
            max_line: 64 << 10,
        }
    }
}

/// What kind of rule a fault broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The pickle is malformed.
    Invalid,
    /// The pickle asks for something unsafe or too large; refused.
    Refused,
    /// Well formed, but uses something this machine does not support.
    Unsupported,
}

/// A failure inside one opcode, before the machine adds where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

impl Fault {
    pub fn invalid(message: impl Into<String>) -> Self {
        Fault { kind: FaultKind::Invalid, message: message.into() }
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Fault { kind: FaultKind::Refused, message: message.into() }
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Fault { kind: FaultKind::Unsupported, message: message.into() }
    }
}

/// A failure of the machine: the fault and where in the pickle it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleError {
    pub kind: FaultKind,
    pub message: String,
    /// Byte offset of the opcode that failed.
    pub offset: usize,
    /// That opcode's name, when the byte is a known opcode.
    pub opcode: Option<&'static str>,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.opcode {
            Some(op) => write!(f, "{} (pickle byte {}, opcode {op})", self.message, self.offset),
            None => write!(f, "{} (pickle byte {})", self.message, self.offset),
        }
    }
}

impl std::error::Error for PickleError {}

/// Index of an object in the [`Heap`].
pub type ObjId = u32;

/// A value on the stack: small scalars inline, everything else by
/// reference to the heap (shared, as Python shares objects).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(ObjId),
}

/// An object on the heap. `X` is the host's own kind of object (a resolved
/// global, a storage, a tensor, an opaque call result).
#[derive(Clone, Debug)]
pub enum Obj<X> {
    Str(String),
    Bytes(Vec<u8>),
    /// An integer outside the i64 range, described in words.
    BigInt(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Insertion-ordered pairs; keys are kept as written (duplicates too).
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Ext(X),
}

impl<X> Obj<X> {
    /// A short type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::BigInt(_) => "int",
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Set(_) => "set",
            Obj::Ext(_) => "object",
        }
    }
}

/// The arena of objects built by one run, with its accounting.
pub struct Heap<X> {
    objs: Vec<Obj<X>>,
    depth: Vec<u32>,
    items: usize,
    derived_bytes: usize,
    limits: Limits,
}

impl<X> Heap<X> {
    fn new(limits: Limits) -> Self {
        Heap { objs: Vec::new(), depth: Vec::new(), items: 0, derived_bytes: 0, limits }
    }

    /// The object a value refers to, if it is a heap object.
    pub fn get(&self, v: Value) -> Option<&Obj<X>> {
        match v {
            Value::Obj(id) => self.objs.get(id as usize),
            _ => None,
        }
    }

    fn get_mut(&mut self, v: Value) -> Option<&mut Obj<X>> {
        match v {
            Value::Obj(id) => self.objs.get_mut(id as usize),
            _ => None,
        }
    }

    /// The text of a `str` value.
    pub fn str(&self, v: Value) -> Option<&str> {
        match self.get(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The items of a tuple value.
    pub fn tuple(&self, v: Value) -> Option<&[Value]> {
        match self.get(v) {
            Some(Obj::Tuple(t)) => Some(t),
            _ => None,
        }
    }

    /// The host object a value refers to.
    pub fn ext(&self, v: Value) -> Option<&X> {
        match self.get(v) {
            Some(Obj::Ext(x)) => Some(x),
            _ => None,
        }
    }

    /// Nesting depth of a value (scalars and leaves are 0).
    pub fn depth_of(&self, v: Value) -> u32 {
        match v {
            Value::Obj(id) => self.depth.get(id as usize).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// A short name of a value's type, for messages.
    pub fn type_name(&self, v: Value) -> &'static str {
        match v {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Obj(_) => self.get(v).map(|o| o.type_name()).unwrap_or("object"),
        }
    }

    /// Store a new object.
    pub fn alloc(&mut self, obj: Obj<X>) -> Result<Value, Fault> {
        if self.objs.len() >= self.limits.max_objects {
            return Err(Fault::refused(format!("pickle creates more than {} objects (resource limit)", self.limits.max_objects)));
        }
        let (n, depth) = match &obj {
            Obj::Tuple(v) | Obj::List(v) | Obj::Set(v) => (v.len(), self.max_child_depth(v.iter().copied())),
            Obj::Dict(v) => (v.len(), self.max_child_depth(v.iter().flat_map(|(k, x)| [*k, *x]))),
            _ => (0, 0),
        };
        self.count_items(n)?;
        let depth =
            if n > 0 || matches!(obj, Obj::Tuple(_) | Obj::List(_) | Obj::Set(_) | Obj::Dict(_)) { self.check_depth(depth.saturating_add(1))? } else { 0 };
        let id = self.objs.len() as ObjId;
        self.objs.push(obj);
        self.depth.push(depth);
        Ok(Value::Obj(id))
    }

    /// Count bytes made by a host (not read from the input), bounded by the
    /// input limit.
    pub fn count_derived_bytes(&mut self, n: usize) -> Result<(), Fault> {
        self.derived_bytes = self.derived_bytes.saturating_add(n);
        if self.derived_bytes > self.limits.max_input {
            return Err(Fault::refused("pickle derives more bytes than the input limit (resource limit)"));
        }
        Ok(())
    }

    fn max_child_depth(&self, it: impl Iterator<Item = Value>) -> u32 {
        it.map(|v| self.depth_of(v)).max().unwrap_or(0)
    }

    fn count_items(&mut self, n: usize) -> Result<(), Fault> {
        self.items = self.items.saturating_add(n);
        if self.items > self.limits.max_items {
            return Err(Fault::refused(format!("pickle stores more than {} container items (resource limit)", self.limits.max_items)));
        }
        Ok(())
    }

    fn check_depth(&self, d: u32) -> Result<u32, Fault> {
        if d > self.limits.max_depth {
            return Err(Fault::refused(format!("containers nested deeper than {} levels (resource limit)", self.limits.max_depth)));
        }
        Ok(d)
    }

    /// Record that `container` now holds `children`: count them and update
    /// its depth.
    fn grow(&mut self, container: Value, children: &[Value]) -> Result<(), Fault> {
        self.count_items(children.len())?;
        let child = self.max_child_depth(children.iter().copied());
        let d = self.check_depth(child.saturating_add(1))?;
        if let Value::Obj(id) = container {
            if let Some(slot) = self.depth.get_mut(id as usize) {
                *slot = (*slot).max(d);
            }
        }
        Ok(())
    }
}

/// How a host object is being called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `REDUCE`: `callable(*args)`.
    Reduce,
    /// `NEWOBJ` / `NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`.
    NewObj,
    /// `INST` / `OBJ`: protocol-0/1 instance creation.
    Inst,
}

/// The policy a run of the machine follows where a real unpickler would
/// import or run code.
pub trait Host {
    /// The host's own objects.
    type Ext;
    /// `GLOBAL`, `STACK_GLOBAL`, `INST`: resolve `module.name`, or refuse.
    fn global(&mut self, module: &str, name: &str) -> Result<Self::Ext, Fault>;
    /// `EXT1/2/4`: a global named through the extension registry.
    fn extension(&mut self, code: u32) -> Result<Self::Ext, Fault> {
        Err(Fault::refused(format!("extension-registry global (code {code}) is not allowed: it names a global without spelling it")))
    }
    /// Call a resolved global. `args` is a tuple; `kwargs` a dict or None.
    fn call(&mut self, heap: &mut Heap<Self::Ext>, callable: Value, args: Value, kwargs: Value, kind: CallKind) -> Result<Value, Fault>;
    /// `PERSID`, `BINPERSID`: a reference to data outside the pickle.
    fn persistent_load(&mut self, heap: &mut Heap<Self::Ext>, pid: Value) -> Result<Value, Fault>;
    /// `APPEND(S)`, `SETITEM(S)`, `ADDITEMS` on a host object (a real
    /// unpickler would call its methods). Refused unless the host says
    /// otherwise.
    fn add_items(&mut self, heap: &mut Heap<Self::Ext>, target: Value, items: Vec<Value>) -> Result<(), Fault> {
        let _ = items;
        Err(Fault::invalid(format!("cannot add items to a {}", heap.type_name(target))))
    }
    /// `BUILD`: set `state` on `obj`.
    fn build(&mut self, heap: &mut Heap<Self::Ext>, obj: Value, state: Value) -> Result<(), Fault>;
}

/// The result of one run: the value `STOP` returned, the heap it lives in,
/// and the offset just past the `STOP` opcode.
pub struct Unpickled<X> {
    pub value: Value,
    pub heap: Heap<X>,
    pub end: usize,
}

/// Run the machine on the pickle that starts at `data[start..]`.
pub fn run<H: Host>(data: &[u8], start: usize, host: &mut H, limits: &Limits) -> Result<Unpickled<H::Ext>, PickleError> {
    if data.len() > limits.max_input {
        return Err(PickleError {
            kind: FaultKind::Refused,
            message: format!("pickle of {} bytes exceeds the {}-byte limit", data.len(), limits.max_input),
            offset: 0,
            opcode: None,
        });
    }
    let mut m = Machine {
        host,
        heap: Heap::new(*limits),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Memo::default(),
        limits: *limits,
        input: Input { data, pos: start },
    };
    loop {
        let at = m.input.pos;
        let op = match m.input.byte() {
            Ok(op) => op,
            Err(_) => {
                return Err(PickleError { kind: FaultKind::Invalid, message: "pickle ends without a STOP opcode (truncated)".into(), offset: at, opcode: None })
            }
        };
        match m.step(op) {
            Ok(Some(value)) => return Ok(Unpickled { value, heap: m.heap, end: m.input.pos }),
            Ok(None) => {}
            Err(f) => return Err(PickleError { kind: f.kind, message: f.message, offset: at, opcode: opcode_name(op) }),
        }
    }
}

/// Name of a pickle opcode.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

/// Python 2 module names that Python 3's unpickler maps to their new homes
/// (only the ones that matter for recognising globals).
pub fn map_py2_module(module: &str) -> &str {
    match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "cPickle" => "pickle",
        "commands" => "subprocess",
        _ => module,
    }
}

/// Cursor over the input; every read is checked against what remains.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], Fault> {
        if n > self.remaining() as u64 {
            return Err(Fault::invalid(format!("{what} of {n} bytes runs past the end of the pickle ({} bytes remain)", self.remaining())));
        }
        let n = n as usize;
        let s = self.data.get(self.pos..self.pos + n).ok_or_else(|| Fault::invalid("read past the end"))?;
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1, "opcode argument")?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let s = self.take(N as u64, "opcode argument")?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A newline-terminated line (without the newline), at most `max` bytes.
    fn line(&mut self, max: usize) -> Result<&'a [u8], Fault> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let window = &rest[..rest.len().min(max.saturating_add(1))];
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                self.pos += i + 1;
                Ok(line)
            }
            None if rest.len() > max => Err(Fault::refused(format!("text argument longer than {max} bytes"))),
            None => Err(Fault::invalid("text argument has no terminating newline (truncated)")),
        }
    }
}

struct Machine<'a, 'h, H: Host> {
    host: &'h mut H,
    heap: Heap<H::Ext>,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Memo,
    limits: Limits,
    input: Input<'a>,
}

/// The memo: dense for the sequential indices picklers write, a map for
/// any others.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Value>>,
    sparse: HashMap<u32, Value>,
    len: usize,
}

impl Memo {
    fn get(&self, key: u32) -> Option<Value> {
        match self.dense.get(key as usize) {
            Some(v) => *v,
            None => self.sparse.get(&key).copied(),
        }
    }

    fn put(&mut self, key: u32, v: Value, max: usize) -> Result<(), Fault> {
        let k = key as usize;
        let fresh = self.get(key).is_none();
        if fresh && self.len >= max {
            return Err(Fault::refused(format!("memo holds more than {max} entries (resource limit)")));
        }
        if k < self.dense.len() {
            self.dense[k] = Some(v);
        } else if k == self.dense.len() && !self.sparse.contains_key(&key) {
            self.dense.push(Some(v));
        } else {
            self.sparse.insert(key, v);
        }
        if fresh {
            self.len += 1;
        }
        Ok(())
    }
}

impl<H: Host> Machine<'_, '_, H> {
    /// Bottom of the current frame (the last mark, or 0).
    fn base(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, v: Value) -> Result<(), Fault> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(Fault::refused(format!("stack deeper than {} values (resource limit)", self.limits.max_stack)));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, Fault> {
        if self.stack.len() <= self.base() {
            return Err(Fault::invalid("stack underflow: opcode needs a value but the stack (above the last mark) is empty"));
        }
        self.stack.pop().ok_or_else(|| Fault::invalid("stack underflow"))
    }

    fn top(&self) -> Result<Value, Fault> {
        if self.stack.len() <= self.base() {
            return Err(Fault::invalid("stack underflow: opcode needs a value but the stack (above the last mark) is empty"));
        }
        self.stack.last().copied().ok_or_else(|| Fault::invalid("stack underflow"))
    }

    /// Pop everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, Fault> {
        let m = self.marks.pop().ok_or_else(|| Fault::invalid("opcode needs a MARK but none is open"))?;
        if m > self.stack.len() {
            return Err(Fault::invalid("mark above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn alloc_push(&mut self, o: Obj<H::Ext>) -> Result<(), Fault> {
        let v = self.heap.alloc(o)?;
        self.push(v)
    }

    fn text(&mut self) -> Result<&str, Fault> {
        let line = self.input.line(self.limits.max_line)?;
        std::str::from_utf8(line).map_err(|_| Fault::invalid("text argument is not valid UTF-8"))
    }

    fn text_int(&mut self) -> Result<i64, Fault> {
        let t = self.text()?.trim();
        t.parse::<i64>().map_err(|_| Fault::invalid(format!("'{}' is not a valid integer", clip(t))))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), Fault> {
        let key = u32::try_from(key).map_err(|_| Fault::refused(format!("memo index {key} is too large")))?;
        let v = self.top()?;
        self.memo.put(key, v, self.limits.max_memo)
    }

    fn memo_get(&mut self, key: u64) -> Result<(), Fault> {
        let v = u32::try_from(key).ok().and_then(|k| self.memo.get(k)).ok_or_else(|| Fault::invalid(format!("memo has no entry {key}")))?;
        self.push(v)
    }

    fn string_value(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.alloc_push(Obj::Str(s.to_owned())),
            Err(_) => self.alloc_push(Obj::Bytes(bytes.to_vec())),
        }
    }

    fn unicode(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let s = std::str::from_utf8(bytes).map_err(|_| Fault::invalid("string is not valid UTF-8"))?;
        self.alloc_push(Obj::Str(s.to_owned()))
    }

    fn long_bytes(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        match int_from_le(bytes) {
            Some(i) => self.push(Value::Int(i)),
            None => self.alloc_push(Obj::BigInt(format!("<integer of {} bytes>", bytes.len()))),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<Value, Fault> {
        let module = map_py2_module(module).to_owned();
        let x = self.host.global(&module, name)?;
        self.heap.alloc(Obj::Ext(x))
    }

    fn call(&mut self, callable: Value, args: Value, kwargs: Value, kind: CallKind) -> Result<(), Fault> {
        if self.heap.ext(callable).is_none() {
            return Err(Fault::invalid(format!("only a global can be called, not a {}", self.heap.type_name(callable))));
        }
        if self.heap.tuple(args).is_none() {
            return Err(Fault::invalid(format!("call arguments must be a tuple, not a {}", self.heap.type_name(args))));
        }
        let v = self.host.call(&mut self.heap, callable, args, kwargs, kind)?;
        self.push(v)
    }

    fn append_to(&mut self, target: Value, items: Vec<Value>, what: &str) -> Result<(), Fault> {
        if self.heap.ext(target).is_some() {
            return self.host.add_items(&mut self.heap, target, items);
        }
        self.heap.grow(target, &items)?;
        let tn = self.heap.type_name(target);
        match (self.heap.get_mut(target), what) {
            (Some(Obj::List(l)), "list") => l.extend(items),
            (Some(Obj::Set(s)), "set") => s.extend(items),
            _ => return Err(Fault::invalid(format!("cannot add items to a {tn}; expected a {what}"))),
        }
        Ok(())
    }

    fn set_items(&mut self, target: Value, items: Vec<Value>) -> Result<(), Fault> {
        if items.len() & 1 != 0 {
            return Err(Fault::invalid("dict items come in key/value pairs but an odd number was given"));
        }
        if self.heap.ext(target).is_some() {
            return self.host.add_items(&mut self.heap, target, items);
        }
        for k in items.iter().step_by(2) {
            self.check_key(*k)?;
        }
        self.heap.grow(target, &items)?;
        let tn = self.heap.type_name(target);
        match self.heap.get_mut(target) {
            Some(Obj::Dict(d)) => {
                d.extend(items.chunks_exact(2).map(|p| (p[0], p[1])));
                Ok(())
            }
            _ => Err(Fault::invalid(format!("cannot set items on a {tn}; expected a dict"))),
        }
    }

    fn check_key(&self, k: Value) -> Result<(), Fault> {
        match self.heap.get(k) {
            Some(Obj::List(_) | Obj::Dict(_) | Obj::Set(_)) => Err(Fault::invalid(format!("unhashable dict key of type {}", self.heap.type_name(k)))),
            _ => Ok(()),
        }
    }

    /// Execute one opcode; `Some(value)` at STOP.
    fn step(&mut self, op: u8) -> Result<Option<Value>, Fault> {
        match op {
            0x80 => {
                let v = self.input.byte()?;
                if v > 5 {
                    return Err(Fault::unsupported(format!("pickle protocol {v} (protocols 0 to 5 are known)")));
                }
            }
            0x95 => {
                let n = u64::from_le_bytes(self.input.array()?);
                if n > self.input.remaining() as u64 {
                    return Err(Fault::invalid(format!("frame of {n} bytes runs past the end of the pickle")));
                }
            }
            b'.' => return self.pop().map(Some),
            b'(' => {
                if self.marks.len() >= self.limits.max_marks {
                    return Err(Fault::refused(format!("more than {} open marks (resource limit)", self.limits.max_marks)));
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                if self.stack.len() > self.base() {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?;
                self.push(v)?;
            }
            // Integers.
            b'J' => {
                let v = i32::from_le_bytes(self.input.array()?) as i64;
                self.push(Value::Int(v))?
            }
            b'K' => {
                let b = self.input.byte()?;
                self.push(Value::Int(b as i64))?
            }
            b'M' => {
                let v = u16::from_le_bytes(self.input.array()?) as i64;
                self.push(Value::Int(v))?
            }
            b'I' => {
                let t = self.text()?.trim();
                let v = match t {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    _ => Value::Int(t.parse::<i64>().map_err(|_| Fault::invalid(format!("'{}' is not a valid INT", clip(t))))?),
                };
                self.push(v)?;
            }
            b'L' => {
                let t = self.text()?.trim();
                let t = t.strip_suffix('L').unwrap_or(t);
                match t.parse::<i64>() {
                    Ok(i) => self.push(Value::Int(i))?,
                    Err(_) if !t.is_empty() && t.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) => {
                        let s = format!("<integer {}>", clip(t));
                        self.alloc_push(Obj::BigInt(s))?
                    }
                    Err(_) => return Err(Fault::invalid(format!("'{}' is not a valid LONG", clip(t)))),
                }
            }
            0x8a => {
                let n = self.input.byte()?;
                let b = self.input.take(n as u64, "LONG1 integer")?;
                self.long_bytes(b)?;
            }
            0x8b => {
                let n = i32::from_le_bytes(self.input.array()?);
                if n < 0 {
                    return Err(Fault::invalid("LONG4 has a negative byte count"));
                }
                let b = self.input.take(n as u64, "LONG4 integer")?;
                self.long_bytes(b)?;
            }
            // Floats.
            b'G' => {
                let v = f64::from_be_bytes(self.input.array()?);
                self.push(Value::Float(v))?
            }
            b'F' => {
                let t = self.text()?.trim();
                let f = t.parse::<f64>().map_err(|_| Fault::invalid(format!("'{}' is not a valid FLOAT", clip(t))))?;
                self.push(Value::Float(f))?;
            }
            // Strings and bytes.
            0x8c => {
                let n = self.input.byte()?;
                let b = self.input.take(n as u64, "SHORT_BINUNICODE string")?;
                self.unicode(b)?;
            }
            b'X' => {
                let n = u32::from_le_bytes(self.input.array()?);
                let b = self.input.take(n as u64, "BINUNICODE string")?;
                self.unicode(b)?;
            }
            0x8d => {
                let n = u64::from_le_bytes(self.input.array()?);
                let b = self.input.take(n, "BINUNICODE8 string")?;
                self.unicode(b)?;
            }
            b'V' => {
                let line = self.input.line(self.limits.max_line)?;
                let s = raw_unicode_escape(line)?;
                self.alloc_push(Obj::Str(s))?;
            }
            b'U' => {
                let n = self.input.byte()?;
                let b = self.input.take(n as u64, "SHORT_BINSTRING string")?;
                self.string_value(b)?;
            }
            b'T' => {
                let n = i32::from_le_bytes(self.input.array()?);
                if n < 0 {
                    return Err(Fault::invalid("BINSTRING has a negative length"));
                }
                let b = self.input.take(n as u64, "BINSTRING string")?;
                self.string_value(b)?;
            }
            b'S' => {
                let line = self.input.line(self.limits.max_line)?;
                let b = py_string_literal(line)?;
                self.string_value(&b)?;
            }
            b'C' => {
                let n = self.input.byte()?;
                let b = self.input.take(n as u64, "SHORT_BINBYTES bytes")?;
                self.alloc_push(Obj::Bytes(b.to_vec()))?;
            }
            b'B' => {
                let n = u32::from_le_bytes(self.input.array()?);
                let b = self.input.take(n as u64, "BINBYTES bytes")?;
                self.alloc_push(Obj::Bytes(b.to_vec()))?;
            }
            0x8e => {
                let n = u64::from_le_bytes(self.input.array()?);
                let b = self.input.take(n, "BINBYTES8 bytes")?;
                self.alloc_push(Obj::Bytes(b.to_vec()))?;
            }
            0x96 => {
                let n = u64::from_le_bytes(self.input.array()?);
                let b = self.input.take(n, "BYTEARRAY8 bytes")?;
                self.alloc_push(Obj::Bytes(b.to_vec()))?;
            }
            0x97 | 0x98 => return Err(Fault::unsupported("out-of-band pickle buffers (protocol 5) cannot appear in a file")),
            // Constants.
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            // Tuples.
            b')' => self.alloc_push(Obj::Tuple(Vec::new()))?,
            b't' => {
                let items = self.pop_mark()?;
                self.alloc_push(Obj::Tuple(items))?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.alloc_push(Obj::Tuple(items))?;
            }
            // Lists.
            b']' => self.alloc_push(Obj::List(Vec::new()))?,
            b'l' => {
                let items = self.pop_mark()?;
                self.alloc_push(Obj::List(items))?;
            }
            b'a' => {
                let v = self.pop()?;
                let target = self.top()?;
                self.append_to(target, vec![v], "list")?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.append_to(target, items, "list")?;
            }
            // Dicts.
            b'}' => self.alloc_push(Obj::Dict(Vec::new()))?,
            b'd' => {
                let items = self.pop_mark()?;
                let d = self.heap.alloc(Obj::Dict(Vec::new()))?;
                self.set_items(d, items)?;
                self.push(d)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                let target = self.top()?;
                self.set_items(target, vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.set_items(target, items)?;
            }
            // Sets.
            0x8f => self.alloc_push(Obj::Set(Vec::new()))?,
            0x90 => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.append_to(target, items, "set")?;
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.alloc_push(Obj::Set(items))?;
            }
            // Globals: resolved (or refused) here, at the opcode itself.
            b'c' => {
                let module = self.text()?.to_owned();
                let name = self.text()?.to_owned();
                let g = self.global(&module, &name)?;
                self.push(g)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(m), Some(n)) = (self.heap.str(module), self.heap.str(name)) else {
                    return Err(Fault::invalid(format!(
                        "STACK_GLOBAL needs two strings, got {} and {}",
                        self.heap.type_name(module),
                        self.heap.type_name(name)
                    )));
                };
                let (m, n) = (m.to_owned(), n.to_owned());
                let g = self.global(&m, &n)?;
                self.push(g)?;
            }
            0x82 => {
                let code = self.input.byte()? as u32;
                self.extension(code)?;
            }
            0x83 => {
                let code = u16::from_le_bytes(self.input.array()?) as u32;
                self.extension(code)?;
            }
            0x84 => {
                let code = u32::from_le_bytes(self.input.array()?);
                self.extension(code)?;
            }
            // Calls.
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.call(callable, args, Value::None, CallKind::Reduce)?;
            }
            0x81 => {
                let args = self.pop()?;
                let cls = self.pop()?;
                self.call(cls, args, Value::None, CallKind::NewObj)?;
            }
            0x92 => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                if !matches!(self.heap.get(kwargs), Some(Obj::Dict(_))) {
                    return Err(Fault::invalid("NEWOBJ_EX keyword arguments must be a dict"));
                }
                self.call(cls, args, kwargs, CallKind::NewObj)?;
            }
            b'i' => {
                let module = self.text()?.to_owned();
                let name = self.text()?.to_owned();
                let cls = self.global(&module, &name)?;
                let items = self.pop_mark()?;
                let args = self.heap.alloc(Obj::Tuple(items))?;
                self.call(cls, args, Value::None, CallKind::Inst)?;
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err(Fault::invalid("OBJ needs a class after the mark"));
                }
                let cls = items.remove(0);
                let args = self.heap.alloc(Obj::Tuple(items))?;
                self.call(cls, args, Value::None, CallKind::Inst)?;
            }
            b'b' => {
                let state = self.pop()?;
                let obj = self.top()?;
                self.host.build(&mut self.heap, obj, state)?;
            }
            b'P' => {
                let line = self.input.line(self.limits.max_line)?;
                let s = std::str::from_utf8(line).map_err(|_| Fault::invalid("PERSID is not valid text"))?.to_owned();
                let pid = self.heap.alloc(Obj::Str(s))?;
                let v = self.host.persistent_load(&mut self.heap, pid)?;
                self.push(v)?;
            }
            b'Q' => {
                let pid = self.pop()?;
                let v = self.host.persistent_load(&mut self.heap, pid)?;
                self.push(v)?;
            }
            // Memo.
            b'p' => {
                let i = self.text_int()?;
                if i < 0 {
                    return Err(Fault::invalid("negative memo index"));
                }
                self.memo_put(i as u64)?;
            }
            b'q' => {
                let i = self.input.byte()?;
                self.memo_put(i as u64)?;
            }
            b'r' => {
                let i = u32::from_le_bytes(self.input.array()?);
                self.memo_put(i as u64)?;
            }
            0x94 => {
                let i = self.memo.len as u64;
                self.memo_put(i)?;
            }
            b'g' => {
                let i = self.text_int()?;
                if i < 0 {
                    return Err(Fault::invalid(format!("memo has no entry {i}")));
                }
                self.memo_get(i as u64)?;
            }
            b'h' => {
                let i = self.input.byte()?;
                self.memo_get(i as u64)?;
            }
            b'j' => {
                let i = u32::from_le_bytes(self.input.array()?);
                self.memo_get(i as u64)?;
            }
            _ => return Err(Fault::invalid(format!("unknown opcode 0x{op:02x}"))),
        }
        Ok(None)
    }

    fn extension(&mut self, code: u32) -> Result<(), Fault> {
        let x = self.host.extension(code)?;
        let v = self.heap.alloc(Obj::Ext(x))?;
        self.push(v)
    }
}

/// Shorten text quoted in a message.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(60).collect();
        out.push('…');
        out
    }
}

/// Little-endian two's complement integer, if it fits in i64.
fn int_from_le(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return Some(0);
    }
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let fill = if neg { 0xff } else { 0 };
    if b.len() > 8 {
        // Fits only when the extra bytes are pure sign extension.
        let (lo, hi) = b.split_at(8);
        if hi.iter().any(|&x| x != fill) || (lo[7] & 0x80 != 0) != neg {
            return None;
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(lo);
        return Some(i64::from_le_bytes(a));
    }
    let mut a = [fill; 8];
    a[..b.len()].copy_from_slice(b);
    Some(i64::from_le_bytes(a))
}

/// Decode a protocol-0 `STRING` argument: a quoted Python 2 string literal.
fn py_string_literal(line: &[u8]) -> Result<Vec<u8>, Fault> {
    let bad = || Fault::invalid("STRING argument is not a quoted string literal");
    let q = *line.first().ok_or_else(bad)?;
    if !(q == b'\'' || q == b'"') || line.len() < 2 || line.last() != Some(&q) {
        return Err(bad());
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *body.get(i).ok_or_else(bad)?;
        i += 1;
        match e {
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'x' => {
                let h = body.get(i..i + 2).ok_or_else(bad)?;
                let h = std::str::from_utf8(h).map_err(|_| bad())?;
                out.push(u8::from_str_radix(h, 16).map_err(|_| bad())?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                let mut k = 0;
                while k < 2 && i < body.len() && (b'0'..=b'7').contains(&body[i]) {
                    v = v * 8 + (body[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Decode a protocol-0 `UNICODE` argument (raw-unicode-escape).
fn raw_unicode_escape(line: &[u8]) -> Result<String, Fault> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if c == b'\\' && matches!(line.get(i + 1), Some(b'u') | Some(b'U')) {
            let n = if line[i + 1] == b'u' { 4 } else { 8 };
            let hex = line.get(i + 2..i + 2 + n).ok_or_else(|| Fault::invalid("truncated \\u escape in UNICODE"))?;
            let hex = std::str::from_utf8(hex).map_err(|_| Fault::invalid("bad \\u escape in UNICODE"))?;
            let cp = u32::from_str_radix(hex, 16).map_err(|_| Fault::invalid("bad \\u escape in UNICODE"))?;
            let ch = char::from_u32(cp).ok_or_else(|| Fault::invalid(format!("UNICODE escape U+{cp:X} is not a character")))?;
            out.push(ch);
            i += 2 + n;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that allows nothing.
    struct Nothing;
    impl Host for Nothing {
        type Ext = ();
        fn global(&mut self, module: &str, name: &str) -> Result<(), Fault> {
            Err(Fault::refused(format!("global '{module}.{name}' is not allowed")))
        }
        fn call(&mut self, _: &mut Heap<()>, _: Value, _: Value, _: Value, _: CallKind) -> Result<Value, Fault> {
            Err(Fault::refused("no calls"))
        }
        fn persistent_load(&mut self, _: &mut Heap<()>, _: Value) -> Result<Value, Fault> {
            Err(Fault::refused("no persistent ids"))
        }
        fn build(&mut self, _: &mut Heap<()>, _: Value, _: Value) -> Result<(), Fault> {
            Err(Fault::refused("no build"))
        }
    }

    fn run0(data: &[u8]) -> Result<Unpickled<()>, PickleError> {
        run(data, 0, &mut Nothing, &Limits::default())
    }

    #[test]
    fn scalars_and_containers() {
        // {'a': [1, -2, 3.5, None, True], 'b': (b'xy', 'é')} in protocol 4 style.
        let mut p = vec![0x80, 4, b'}', 0x94, 0x8c, 1, b'a', b']', b'(', b'K', 1, b'J'];
        p.extend_from_slice(&(-2i32).to_le_bytes());
        p.push(b'G');
        p.extend_from_slice(&3.5f64.to_be_bytes());
        p.extend_from_slice(&[b'N', 0x88, b'e', b's', 0x8c, 1, b'b', b'C', 2, b'x', b'y', 0x8c, 2, 0xc3, 0xa9, 0x86, b's', b'.']);
        let u = run0(&p).unwrap();
        let Some(Obj::Dict(d)) = u.heap.get(u.value) else { panic!() };
        assert_eq!(d.len(), 2);
        assert_eq!(u.heap.str(d[0].0), Some("a"));
        let Some(Obj::List(l)) = u.heap.get(d[0].1) else { panic!() };
        assert_eq!(l, &[Value::Int(1), Value::Int(-2), Value::Float(3.5), Value::None, Value::Bool(true)]);
        let t = u.heap.tuple(d[1].1).unwrap();
        assert!(matches!(u.heap.get(t[0]), Some(Obj::Bytes(b)) if b == b"xy"));
        assert_eq!(u.heap.str(t[1]), Some("é"));
    }

    #[test]
    fn protocol0_text_opcodes() {
        let p = b"(lp0\nI12\naL-7L\naF2.5\naS'a\\'b\\x41'\np1\naVx\\u00e9\nag1\na.";
        let u = run0(p).unwrap();
        let Some(Obj::List(l)) = u.heap.get(u.value) else { panic!() };
        assert_eq!(l[0], Value::Int(12));
        assert_eq!(l[1], Value::Int(-7));
        assert_eq!(l[2], Value::Float(2.5));
        assert_eq!(u.heap.str(l[3]), Some("a'bA"));
        assert_eq!(u.heap.str(l[4]), Some("xé"));
        assert_eq!(l[5], l[3]);
    }

    #[test]
    fn longs() {
        assert_eq!(int_from_le(&[0xff]), Some(-1));
        assert_eq!(int_from_le(&[0x00, 0x01]), Some(256));
        assert_eq!(int_from_le(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Some(i64::MAX));
        assert_eq!(int_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), None);
        assert_eq!(int_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff]), Some(i64::MIN));
    }

    #[test]
    fn globals_refused_at_the_opcode() {
        let e = run0(b"cos\nsystem\n.").err().unwrap();
        assert_eq!(e.kind, FaultKind::Refused);
        assert!(e.message.contains("os.system"));
        assert_eq!(e.opcode, Some("GLOBAL"));
        let e = run0(b"c__builtin__\neval\n.").err().unwrap();
        assert!(e.message.contains("builtins.eval"), "{e}");
        let e = run0(&[0x80, 4, 0x8c, 2, b'o', b's', 0x8c, 6, b's', b'y', b's', b't', b'e', b'm', 0x93, b'.']).err().unwrap();
        assert!(e.message.contains("os.system"));
        assert_eq!(e.opcode, Some("STACK_GLOBAL"));
    }

    #[test]
    fn malformed_inputs_error() {
        for (p, what) in [
            (&b"]"[..], "STOP"),
            (b"\xff", "unknown opcode"),
            (b"a.", "underflow"),
            (b"h\x05.", "memo has no entry 5"),
            (b"X\xff\xff\xff\xff", "runs past the end"),
            (b"(K\x01u.", "underflow"),
            (b"\x80\x09.", "protocol 9"),
        ] {
            let e = run0(p).err().unwrap_or_else(|| panic!("{what}"));
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn deep_nesting_errors_without_recursion() {
        let n = 100_000;
        let mut p = vec![b']'; n];
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p.push(b'.');
        let e = run0(&p).err().unwrap();
        assert!(e.message.contains("nested deeper"), "{e}");
    }
}
