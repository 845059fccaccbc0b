//! GGUF metadata values: a typed scalar, string or array, with accessors
//! and a short text rendering.
//!
//! Arrays are stored as one typed vector per element type (a vocabulary of
//! 250k tokens is one `Vec<String>`, not 250k tagged values), so reading and
//! holding them is cheap.

use std::fmt::Write;

/// The GGUF value type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// Decode a stored type id.
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The type id as stored in a file.
    pub fn id(self) -> u32 {
        use ValueType::*;
        match self {
            U8 => 0,
            I8 => 1,
            U16 => 2,
            I16 => 3,
            U32 => 4,
            I32 => 5,
            F32 => 6,
            Bool => 7,
            String => 8,
            Array => 9,
            U64 => 10,
            I64 => 11,
            F64 => 12,
        }
    }

    /// Lower-case name used in messages (`"u32"`, `"string"`).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// The fewest bytes one value of this type occupies in a file (a string
    /// is at least its 8-byte length, an array its type id and count).
    pub fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A homogeneous array value; nested arrays hold arrays.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer value that fits in a u64 (signed values must be >= 0).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits in an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits in a u32.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|v| u32::try_from(v).ok())
    }

    /// A float value (f32 or f64; f64 is rounded to nearest).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => None,
        }
    }

    /// A float value widened to f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// Text for display: strings JSON-quoted, numbers in full, arrays of
    /// more than `max_items` elements abbreviated as `[... 49152 strings]`.
    pub fn render(&self, max_items: usize) -> String {
        let mut s = String::new();
        self.render_into(&mut s, max_items);
        s
    }

    fn render_into(&self, out: &mut String, max_items: usize) {
        match self {
            Value::U8(v) => push_display(out, v),
            Value::I8(v) => push_display(out, v),
            Value::U16(v) => push_display(out, v),
            Value::I16(v) => push_display(out, v),
            Value::U32(v) => push_display(out, v),
            Value::I32(v) => push_display(out, v),
            Value::U64(v) => push_display(out, v),
            Value::I64(v) => push_display(out, v),
            Value::F32(v) => push_display(out, v),
            Value::F64(v) => push_display(out, v),
            Value::Bool(v) => push_display(out, v),
            Value::String(v) => push_quoted(out, v),
            Value::Array(a) => a.render_into(out, max_items),
        }
    }
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

fn push_quoted(out: &mut String, v: &str) {
    match serde_json::to_string(v) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"?\""),
    }
}

impl Array {
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn element_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            Array::String(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_f32s(&self) -> Option<&[f32]> {
        match self {
            Array::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i32s(&self) -> Option<&[i32]> {
        match self {
            Array::I32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_u32s(&self) -> Option<&[u32]> {
        match self {
            Array::U32(v) => Some(v),
            _ => None,
        }
    }

    /// Element `i` as a scalar value (`None` past the end).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.clone()),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
        })
    }

    fn render_into(&self, out: &mut String, max_items: usize) {
        let n = self.len();
        if n > max_items {
            let what = match self.element_type() {
                ValueType::String => "strings".to_string(),
                ValueType::Array => "arrays".to_string(),
                ValueType::Bool => "bools".to_string(),
                t => format!("{} values", t.name()),
            };
            let _ = write!(out, "[... {n} {what}]");
            return;
        }
        match self {
            Array::U8(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::I8(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::U16(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::I16(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::U32(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::I32(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::F32(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::Bool(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::String(v) => push_items(out, v, |o, x| push_quoted(o, x)),
            Array::Array(v) => push_items(out, v, |o, x| x.render_into(o, max_items)),
            Array::U64(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::I64(v) => push_items(out, v, |o, x| push_display(o, x)),
            Array::F64(v) => push_items(out, v, |o, x| push_display(o, x)),
        }
    }
}

fn push_items<T>(out: &mut String, items: &[T], each: impl Fn(&mut String, &T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, x);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_abbreviates_long_arrays() {
        let a = Value::Array(Array::String(vec!["a".into(); 20]));
        assert_eq!(a.render(16), "[... 20 strings]");
        let b = Value::Array(Array::I32(vec![1, -2]));
        assert_eq!(b.render(16), "[1, -2]");
        assert_eq!(Value::String("x\"y".into()).render(16), "\"x\\\"y\"");
        let n = Value::Array(Array::Array(vec![Array::U8(vec![1]), Array::Bool(vec![true])]));
        assert_eq!(n.render(16), "[[1], [true]]");
    }

    #[test]
    fn integer_accessors_check_range() {
        assert_eq!(Value::I32(-1).as_u64(), None);
        assert_eq!(Value::U64(u64::MAX).as_u32(), None);
        assert_eq!(Value::U8(7).as_u32(), Some(7));
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
    }
}
