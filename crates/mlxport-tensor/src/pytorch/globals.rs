//! Which pickle globals a PyTorch checkpoint may name.
//!
//! The loader accepts only the globals that `torch.save` itself emits for a
//! state dict of tensors: the tensor and parameter rebuild functions, the
//! storage classes, dtype objects (for dtypes without a legacy storage
//! class), `collections.OrderedDict`, and `torch.Size`. A few pure data
//! constructors that protocol-2 pickles use for plain values are allowed too
//! (`_codecs.encode` for bytes, `builtins.set`/`frozenset` for sets). All of
//! them are interpreted here, by name; nothing is imported.
//!
//! Everything else is refused. For reports, a second list names modules and
//! builtins that are known code-execution or I/O primitives, so a scan can
//! say "dangerous" rather than merely "unknown".

use crate::dtype::DType;

/// A global the loader understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])`.
    RebuildTensorV3,
    /// `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)`.
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks, state)`.
    RebuildParameterWithState,
    /// `torch._tensor._rebuild_from_type_v2(func, type, args, state)`: a
    /// tensor with Python attributes.
    RebuildFromTypeV2,
    /// `torch.Tensor` as a type marker.
    TensorType,
    /// `torch.nn.parameter.Parameter` as a type marker.
    ParameterType,
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch.Size(tuple)`.
    TorchSize,
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 spells bytes.
    CodecsEncode,
    /// `builtins.set` / `builtins.frozenset`.
    Set,
    /// A storage class; `None` is `torch.storage.UntypedStorage`.
    Storage(Option<DType>),
    /// A dtype object such as `torch.float8_e4m3fn`.
    Dtype(DType),
}

/// How a global is classed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// On the allowlist.
    Allowed(Allowed),
    /// A torch tensor type that is harmless but not supported here
    /// (quantized storages, sub-byte dtypes, ...).
    UnsupportedTensorType,
    /// A known code-execution, import or I/O primitive.
    Dangerous,
    /// Anything else.
    Unknown,
}

/// Storage class names (`torch.<Name>Storage`) and their dtypes.
const STORAGES: &[(&str, DType)] = &[
    ("FloatStorage", DType::F32),
    ("DoubleStorage", DType::F64),
    ("HalfStorage", DType::F16),
    ("BFloat16Storage", DType::BF16),
    ("LongStorage", DType::I64),
    ("IntStorage", DType::I32),
    ("ShortStorage", DType::I16),
    ("CharStorage", DType::I8),
    ("ByteStorage", DType::U8),
    ("BoolStorage", DType::Bool),
    ("ComplexFloatStorage", DType::C64),
    ("ComplexDoubleStorage", DType::C128),
];

/// Canonical torch dtype names (`str(torch.float32)` without `torch.`).
const DTYPES: &[(&str, DType)] = &[
    ("float32", DType::F32),
    ("float64", DType::F64),
    ("float16", DType::F16),
    ("bfloat16", DType::BF16),
    ("int64", DType::I64),
    ("int32", DType::I32),
    ("int16", DType::I16),
    ("int8", DType::I8),
    ("uint8", DType::U8),
    ("uint16", DType::U16),
    ("uint32", DType::U32),
    ("uint64", DType::U64),
    ("bool", DType::Bool),
    ("complex64", DType::C64),
    ("complex128", DType::C128),
    ("float8_e4m3fn", DType::F8E4M3),
    ("float8_e5m2", DType::F8E5M2),
    ("float8_e4m3fnuz", DType::F8E4M3Fnuz),
    ("float8_e5m2fnuz", DType::F8E5M2Fnuz),
    ("float8_e8m0fnu", DType::F8E8M0),
];

/// Torch tensor types that are data only but not supported here.
const UNSUPPORTED_TORCH: &[&str] = &[
    "QInt8Storage",
    "QUInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "complex32",
    "chalf",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float4_e2m1fn_x2",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
];

/// Modules (and their submodules) whose globals can run code, import
/// modules, touch files, processes or the network.
const DANGEROUS_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "posixpath",
    "ntpath",
    "subprocess",
    "sys",
    "importlib",
    "imp",
    "pkgutil",
    "runpy",
    "webbrowser",
    "socket",
    "shutil",
    "ctypes",
    "pickle",
    "_pickle",
    "marshal",
    "code",
    "codeop",
    "types",
    "pty",
    "multiprocessing",
    "threading",
    "_thread",
    "asyncio",
    "signal",
    "io",
    "_io",
    "tempfile",
    "glob",
    "pathlib",
    "zipimport",
    "urllib",
    "http",
    "ftplib",
    "smtplib",
    "telnetlib",
    "requests",
    "operator",
    "functools",
    "copyreg",
    "inspect",
    "gc",
    "platform",
    "pydoc",
    "timeit",
    "cProfile",
    "profile",
    "pdb",
    "bdb",
    "trace",
    "venv",
    "ensurepip",
    "distutils",
    "setuptools",
    "pip",
    "torch.hub",
    "torch.jit",
    "torch.serialization",
    "torch.utils.cpp_extension",
    "torch._dynamo",
    "torch._inductor",
    "numpy.testing",
    "dill",
    "joblib",
];

/// Builtins that run code, reach attributes, import, or open files.
const DANGEROUS_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "getattr",
    "setattr",
    "delattr",
    "__import__",
    "open",
    "input",
    "breakpoint",
    "globals",
    "locals",
    "vars",
    "dir",
    "help",
    "exit",
    "quit",
    "memoryview",
    "type",
    "object",
    "super",
    "classmethod",
    "staticmethod",
    "property",
    "apply",
    "execfile",
    "reload",
    "file",
];

/// Class a global `module.name` (module already mapped from Python 2).
pub fn classify(module: &str, name: &str) -> Class {
    if let Some(a) = allowed(module, name) {
        return Class::Allowed(a);
    }
    if is_dangerous(module, name) {
        return Class::Dangerous;
    }
    let torch_ns = matches!(module, "torch" | "torch.storage");
    if torch_ns && UNSUPPORTED_TORCH.contains(&name) {
        return Class::UnsupportedTensorType;
    }
    Class::Unknown
}

fn allowed(module: &str, name: &str) -> Option<Allowed> {
    use Allowed::*;
    Some(match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") => RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor_v3") => RebuildTensorV3,
        ("torch._utils", "_rebuild_parameter") => RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => RebuildFromTypeV2,
        ("torch._tensor", "Tensor") | ("torch", "Tensor") => TensorType,
        ("torch.nn.parameter", "Parameter") => ParameterType,
        ("collections", "OrderedDict") => OrderedDict,
        ("torch", "Size") => TorchSize,
        ("_codecs", "encode") => CodecsEncode,
        ("builtins", "set") | ("builtins", "frozenset") => Set,
        ("torch.storage", "UntypedStorage") | ("torch", "UntypedStorage") => Storage(None),
        ("torch", n) => {
            if let Some((_, d)) = STORAGES.iter().find(|(s, _)| *s == n) {
                Storage(Some(*d))
            } else if let Some((_, d)) = DTYPES.iter().find(|(s, _)| *s == n) {
                Dtype(*d)
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// Whether `module.name` is a known code-execution, import or I/O primitive.
/// A dotted name (which protocol 4 resolves attribute by attribute, so
/// `torch` + `serialization.os.system` reaches `os.system`) is dangerous if
/// any step through it is.
pub fn is_dangerous(module: &str, name: &str) -> bool {
    if name.contains('.') {
        let path = format!("{module}.{name}");
        let parts: Vec<&str> = path.split('.').collect();
        return (1..parts.len()).any(|i| is_dangerous(&parts[..i].join("."), parts[i]))
            || parts.iter().skip(1).any(|p| p.starts_with("__") || DANGEROUS_BUILTINS.contains(p) || DANGEROUS_MODULES.contains(p));
    }
    if module == "builtins" {
        return DANGEROUS_BUILTINS.contains(&name) || name.starts_with("__");
    }
    DANGEROUS_MODULES.iter().any(|m| module == *m || (module.starts_with(m) && module.as_bytes().get(m.len()) == Some(&b'.')))
}

/// `module.name` as one string.
pub fn full_name(module: &str, name: &str) -> String {
    format!("{module}.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("torch._utils", "_rebuild_tensor_v2"), Class::Allowed(Allowed::RebuildTensorV2));
        assert_eq!(classify("torch", "BFloat16Storage"), Class::Allowed(Allowed::Storage(Some(DType::BF16))));
        assert_eq!(classify("torch", "float8_e5m2"), Class::Allowed(Allowed::Dtype(DType::F8E5M2)));
        assert_eq!(classify("torch", "QInt8Storage"), Class::UnsupportedTensorType);
        for (m, n) in [
            ("os", "system"),
            ("posix", "system"),
            ("nt", "system"),
            ("builtins", "eval"),
            ("builtins", "exec"),
            ("builtins", "getattr"),
            ("subprocess", "Popen"),
            ("pkgutil", "resolve_name"),
            ("importlib", "import_module"),
            ("runpy", "_run_code"),
            ("webbrowser", "open"),
            ("os.path", "join"),
        ] {
            assert_eq!(classify(m, n), Class::Dangerous, "{m}.{n}");
        }
        assert_eq!(classify("numpy.core.multiarray", "_reconstruct"), Class::Unknown);
        assert_eq!(classify("osx", "thing"), Class::Unknown);
        assert_eq!(classify("builtins", "print"), Class::Unknown);
    }
}
