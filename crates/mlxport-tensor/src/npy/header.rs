//! The .npy header: its fixed prefix, the Python dict literal that follows,
//! and the `descr` strings that name element types.
//!
//! The parser accepts exactly the dict literal numpy writes — the keys
//! `descr`, `fortran_order` and `shape`, each once, with a string, a bool
//! and a tuple of non-negative integers — with free whitespace and an
//! optional trailing comma. Anything else is an error that says which rule
//! it broke. The encoder writes the header byte for byte as numpy 2 does.

use crate::dtype::DType;

/// The magic string every .npy file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header (the dict text) accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Most dimensions accepted (numpy's own limit).
pub const MAX_DIMS: usize = 64;
/// numpy pads the magic, length field and dict to a multiple of this.
const ALIGN: usize = 64;
/// numpy leaves room after the dict so the growth axis can grow in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// Why a header was not accepted. Turned into a crate [`crate::Error`] by
/// the caller, which knows the file (and the npz member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A rule of the format is broken.
    Invalid(String),
    /// Well formed, but not something this crate reads.
    Unsupported(String),
    /// Asks for something unsafe (object arrays carry pickles).
    Refused(String),
}

impl Problem {
    fn invalid(s: impl Into<String>) -> Self {
        Problem::Invalid(s.into())
    }
}

/// A parsed, validated .npy header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version (major, minor): (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    pub dtype: DType,
    /// Elements are stored big-endian (`>` in `descr`).
    pub big_endian: bool,
    /// Elements are stored in column-major (Fortran) order.
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Offset of the first data byte from the start of the magic.
    pub data_offset: usize,
    /// Bytes of data the shape and dtype call for.
    pub data_len: u64,
}

impl NpyHeader {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Total length of magic, version, length field and dict text, read from
/// the first bytes of a file (10 are enough for version 1.0, 12 for 2.0 and
/// 3.0). Checks the magic, the version and [`MAX_HEADER_LEN`].
pub fn header_total_len(prefix: &[u8]) -> Result<usize, Problem> {
    if prefix.len() < 8 && MAGIC.starts_with(&prefix[..prefix.len().min(6)]) {
        return Err(Problem::invalid(format!("file is {} bytes long, too short for the npy magic and version", prefix.len())));
    }
    if prefix.len() < 8 || &prefix[..6] != MAGIC {
        let shown = &prefix[..prefix.len().min(6)];
        return Err(Problem::invalid(format!("does not start with the npy magic \\x93NUMPY (found {})", escape_bytes(shown))));
    }
    let version = (prefix[6], prefix[7]);
    let len_field = match version {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (major, minor) => return Err(Problem::Unsupported(format!("npy format version {major}.{minor} (only 1.0, 2.0 and 3.0 exist)"))),
    };
    let Some(field) = prefix.get(8..8 + len_field) else {
        return Err(Problem::invalid("file ends inside the header length field"));
    };
    let hlen =
        if len_field == 2 { u16::from_le_bytes([field[0], field[1]]) as usize } else { u32::from_le_bytes([field[0], field[1], field[2], field[3]]) as usize };
    if hlen > MAX_HEADER_LEN {
        return Err(Problem::invalid(format!("header length {hlen} exceeds the limit of {MAX_HEADER_LEN} bytes")));
    }
    Ok(8 + len_field + hlen)
}

/// Parse the header at the start of `bytes`, which must hold at least the
/// whole header (see [`header_total_len`]); data bytes may follow.
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader, Problem> {
    let total = header_total_len(bytes)?;
    let version = (bytes[6], bytes[7]);
    let Some(dict_bytes) = bytes.get(if version.0 == 1 { 10 } else { 12 }..total) else {
        return Err(Problem::invalid(format!("header length field says the header ends at byte {total}, beyond the end of the file ({} bytes)", bytes.len())));
    };
    let text: String = if version.0 == 3 {
        std::str::from_utf8(dict_bytes).map_err(|_| Problem::invalid("version 3.0 header is not valid UTF-8"))?.to_owned()
    } else {
        // Versions 1.0 and 2.0 are latin-1: every byte is one character.
        dict_bytes.iter().map(|&b| b as char).collect()
    };
    let dict = DictParser::new(&text).parse()?;
    let numel = checked_numel(&dict.shape)?;
    let size = dict.dtype.size().unwrap_or(1) as u64;
    let data_len = numel.checked_mul(size).ok_or_else(|| Problem::invalid("shape overflows: the data size does not fit in 64 bits"))?;
    Ok(NpyHeader {
        version,
        dtype: dict.dtype,
        big_endian: dict.big_endian,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset: total,
        data_len,
    })
}

/// Element count of `shape`, refusing shapes whose non-zero dimensions
/// multiply past 64 bits (so any product order is safe to compute).
fn checked_numel(shape: &[u64]) -> Result<u64, Problem> {
    let mut nonzero: u64 = 1;
    for &d in shape {
        nonzero =
            nonzero.checked_mul(d.max(1)).ok_or_else(|| Problem::invalid(format!("shape {shape:?} overflows: its element count does not fit in 64 bits")))?;
    }
    Ok(if shape.contains(&0) { 0 } else { nonzero })
}

fn escape_bytes(b: &[u8]) -> String {
    b.iter().flat_map(|&c| std::ascii::escape_default(c)).map(char::from).collect()
}

/// The `descr` string for a dtype, little-endian, or `None` when numpy has
/// no such dtype.
pub fn descr_of(dtype: DType) -> Option<&'static str> {
    use DType::*;
    Some(match dtype {
        Bool => "|b1",
        U8 => "|u1",
        I8 => "|i1",
        U16 => "<u2",
        I16 => "<i2",
        U32 => "<u4",
        I32 => "<i4",
        U64 => "<u8",
        I64 => "<i8",
        F16 => "<f2",
        F32 => "<f4",
        F64 => "<f8",
        C64 => "<c8",
        C128 => "<c16",
        _ => return None,
    })
}

/// Parse a `descr` string into a dtype and whether it is big-endian.
fn parse_descr(descr: &str) -> Result<(DType, bool), Problem> {
    let mut chars = descr.chars();
    let order = chars.next().unwrap_or(' ');
    if !matches!(order, '<' | '>' | '|') {
        return Err(Problem::invalid(format!("descr '{descr}' must start with a byte order: '<', '>' or '|'")));
    }
    let type_code = chars.as_str();
    let kind = type_code.chars().next().unwrap_or(' ');
    match kind {
        'O' => return Err(Problem::Refused(format!("dtype '{descr}' is an object array: its data is a Python pickle, which is never loaded"))),
        'V' => {
            return Err(Problem::Unsupported(format!(
                "dtype '{descr}' is raw void bytes of unknown type (bfloat16 and other ml_dtypes types are saved this way); save a numpy numeric dtype instead"
            )))
        }
        _ => {}
    }
    use DType::*;
    let dtype = match type_code {
        "b1" => Bool,
        "u1" => U8,
        "i1" => I8,
        "u2" => U16,
        "i2" => I16,
        "u4" => U32,
        "i4" => I32,
        "u8" => U64,
        "i8" => I64,
        "f2" => F16,
        "f4" => F32,
        "f8" => F64,
        "c8" => C64,
        "c16" => C128,
        _ => return Err(Problem::Unsupported(format!("dtype '{descr}' (supported: bool, integers, float16/32/64, complex64/128)"))),
    };
    let single_byte = dtype.size() == Some(1);
    let big_endian = match order {
        '<' => false,
        '>' => true,
        '|' if single_byte => false,
        _ => return Err(Problem::invalid(format!("descr '{descr}' says byte order does not apply ('|') to a multi-byte type"))),
    };
    Ok((dtype, big_endian && !single_byte))
}

/// The three values a header dict holds.
struct Dict {
    dtype: DType,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// Recursive-descent parser for the header's dict literal.
struct DictParser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> DictParser<'a> {
    fn new(text: &'a str) -> Self {
        DictParser { chars: text.chars().peekable() }
    }

    fn skip_ws(&mut self) {
        while matches!(self.chars.peek(), Some(' ' | '\t' | '\n' | '\r' | '\x0c')) {
            self.chars.next();
        }
    }

    /// Skip whitespace and take `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.peek() == Some(&c) {
            self.chars.next();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), Problem> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&mut self, what: &str) -> Problem {
        match self.chars.peek() {
            Some(c) => Problem::invalid(format!("header dict: expected {what}, found {c:?}")),
            None => Problem::invalid(format!("header dict: expected {what}, found the end of the header")),
        }
    }

    fn parse(mut self) -> Result<Dict, Problem> {
        if !self.eat('{') {
            return Err(Problem::invalid("header is not a dict literal: it must start with '{'"));
        }
        let mut descr: Option<(DType, bool)> = None;
        let mut fortran: Option<bool> = None;
        let mut shape: Option<Vec<u64>> = None;
        loop {
            if self.eat('}') {
                break;
            }
            let key = self.string("a quoted key or '}'")?;
            self.expect(':', "':' after a key")?;
            let duplicate = match key.as_str() {
                "descr" => descr.replace(self.descr()?).is_some(),
                "fortran_order" => fortran.replace(self.boolean()?).is_some(),
                "shape" => shape.replace(self.tuple()?).is_some(),
                other => return Err(Problem::invalid(format!("header has unexpected key '{other}' (only 'descr', 'fortran_order' and 'shape' are allowed)"))),
            };
            if duplicate {
                return Err(Problem::invalid(format!("header has key '{key}' twice")));
            }
            if !self.eat(',') {
                self.expect('}', "',' or '}' after a value")?;
                break;
            }
        }
        self.skip_ws();
        if let Some(c) = self.chars.next() {
            return Err(Problem::invalid(format!("header has {c:?} after the closing '}}' (only whitespace may follow)")));
        }
        let missing = |k: &str| Problem::invalid(format!("header is missing key '{k}'"));
        let (dtype, big_endian) = descr.ok_or_else(|| missing("descr"))?;
        Ok(Dict { dtype, big_endian, fortran_order: fortran.ok_or_else(|| missing("fortran_order"))?, shape: shape.ok_or_else(|| missing("shape"))? })
    }

    /// A quoted string without escapes.
    fn string(&mut self, what: &str) -> Result<String, Problem> {
        self.skip_ws();
        let quote = match self.chars.peek() {
            Some(&q @ ('\'' | '"')) => q,
            _ => return Err(self.unexpected(what)),
        };
        self.chars.next();
        let mut s = String::new();
        loop {
            match self.chars.next() {
                Some(c) if c == quote => return Ok(s),
                Some('\\') => return Err(Problem::invalid("header dict: escapes in strings are not allowed")),
                Some('\n') | None => return Err(Problem::invalid("header dict: unterminated string")),
                Some(c) => s.push(c),
            }
        }
    }

    fn descr(&mut self) -> Result<(DType, bool), Problem> {
        self.skip_ws();
        if self.chars.peek() == Some(&'[') {
            return Err(Problem::Unsupported("structured dtype (a list 'descr'); only plain numeric arrays are read".into()));
        }
        let s = self.string("a quoted string for 'descr'")?;
        parse_descr(&s)
    }

    fn boolean(&mut self) -> Result<bool, Problem> {
        self.skip_ws();
        let mut word = String::new();
        while let Some(&c) = self.chars.peek() {
            if !c.is_ascii_alphanumeric() || word.len() > 8 {
                break;
            }
            word.push(c);
            self.chars.next();
        }
        match word.as_str() {
            "True" => Ok(true),
            "False" => Ok(false),
            _ => Err(Problem::invalid(format!("'fortran_order' must be True or False, found '{word}'"))),
        }
    }

    /// A tuple of non-negative integers: `()`, `(3,)`, `(3, 4)`, `(3, 4,)`.
    fn tuple(&mut self) -> Result<Vec<u64>, Problem> {
        self.skip_ws();
        if self.chars.peek() != Some(&'(') {
            return Err(self.unexpected("a tuple for 'shape'"));
        }
        self.chars.next();
        let mut dims = Vec::new();
        let mut trailing_comma = false;
        loop {
            if self.eat(')') {
                break;
            }
            if dims.len() == MAX_DIMS {
                return Err(Problem::invalid(format!("shape has more than {MAX_DIMS} dimensions")));
            }
            dims.push(self.dim()?);
            trailing_comma = self.eat(',');
            if !trailing_comma {
                self.expect(')', "',' or ')' in 'shape'")?;
                break;
            }
        }
        if dims.len() == 1 && !trailing_comma {
            return Err(Problem::invalid("'shape' is not a tuple: a one-element tuple needs a trailing comma, as in (3,)"));
        }
        Ok(dims)
    }

    /// One dimension: decimal digits, no sign, no leading zeros, with the
    /// `L` suffix that Python 2 writers left tolerated.
    fn dim(&mut self) -> Result<u64, Problem> {
        self.skip_ws();
        if self.chars.peek() == Some(&'-') {
            return Err(Problem::invalid("shape has a negative dimension"));
        }
        let mut digits = String::new();
        while let Some(&c) = self.chars.peek() {
            if !c.is_ascii_digit() {
                break;
            }
            if digits.len() > 20 {
                return Err(Problem::invalid("shape dimension does not fit in 64 bits"));
            }
            digits.push(c);
            self.chars.next();
        }
        if digits.is_empty() {
            return Err(self.unexpected("a non-negative integer dimension"));
        }
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(Problem::invalid(format!("shape dimension '{digits}' has a leading zero")));
        }
        if self.chars.peek() == Some(&'L') {
            self.chars.next();
        }
        digits.parse::<u64>().map_err(|_| Problem::invalid(format!("shape dimension {digits} does not fit in 64 bits")))
    }
}

/// The dict text numpy writes for this header, without padding.
fn dict_text(descr: &str, fortran_order: bool, shape: &[u64]) -> String {
    let shape_text = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let fortran = if fortran_order { "True" } else { "False" };
    let mut text = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}");
    // Room for the growth axis (the first, or the last in Fortran order).
    let growth = if fortran_order { shape.last() } else { shape.first() };
    if let Some(d) = growth {
        let digits = d.to_string().len();
        text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    text
}

/// The complete header (magic through the final newline) for an array,
/// exactly as numpy writes it: version 1.0 unless the header needs the
/// larger length field of 2.0, padded with spaces and a newline so the data
/// starts at a multiple of 64 bytes. `None` if numpy has no such dtype.
pub fn encode_header(dtype: DType, shape: &[u64], fortran_order: bool) -> Option<Vec<u8>> {
    let descr = descr_of(dtype)?;
    let text = dict_text(descr, fortran_order, shape);
    let (version, len_field) = if pad_to_align(10, text.len()) <= u16::MAX as usize { (1u8, 2usize) } else { (2u8, 4usize) };
    let hlen = pad_to_align(8 + len_field, text.len());
    let mut out = Vec::with_capacity(8 + len_field + hlen);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_field == 2 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.resize(8 + len_field + hlen - 1, b' ');
    out.push(b'\n');
    Some(out)
}

/// Length of the dict text plus its padding and final newline, such that
/// `prefix` plus this is a multiple of [`ALIGN`]. Like numpy, a text that
/// would end exactly on the boundary gets a full block of padding.
fn pad_to_align(prefix: usize, text_len: usize) -> usize {
    let with_newline = text_len + 1;
    let pad = ALIGN - (prefix + with_newline) % ALIGN;
    with_newline + pad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dict: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v
    }

    fn parse(dict: &str) -> Result<NpyHeader, Problem> {
        parse_header(&header(dict))
    }

    #[test]
    fn parses_what_numpy_writes() {
        let h = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }   \n").unwrap();
        assert_eq!((h.dtype, h.big_endian, h.fortran_order), (DType::F32, false, false));
        assert_eq!(h.shape, vec![3, 4]);
        assert_eq!(h.data_len, 48);
        let h = parse("{'shape': (), 'descr': '>c16', 'fortran_order': True}").unwrap();
        assert_eq!((h.dtype, h.big_endian, h.fortran_order), (DType::C128, true, true));
        assert!(h.shape.is_empty());
        assert_eq!(parse("{\"descr\":\"|b1\",\"fortran_order\":False,\"shape\":(7,)}").unwrap().shape, vec![7]);
        assert_eq!(parse("{'descr':'|u1','fortran_order':False,'shape':(2L, 0L)}").unwrap().data_len, 0);
    }

    #[test]
    fn refuses_what_numpy_would_not_write() {
        let bad = [
            ("[1, 2]", "dict"),
            ("{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "unexpected key"),
            ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "twice"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", "trailing comma"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", "negative"),
            ("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "True or False"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", "tuple"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", "after the closing"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "overflow"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", "64 bits"),
            ("{'descr': 'f4', 'fortran_order': False, 'shape': ()}", "byte order"),
            ("{'descr': '|f4', 'fortran_order': False, 'shape': ()}", "byte order"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (01,)}", "leading zero"),
            ("{'descr': '<f\\x34', 'fortran_order': False, 'shape': ()}", "escape"),
        ];
        for (dict, rule) in bad {
            match parse(dict) {
                Err(Problem::Invalid(msg)) => assert!(msg.contains(rule), "{dict}: {msg}"),
                other => panic!("{dict}: {other:?}"),
            }
        }
        assert!(matches!(parse("{'descr': '|O', 'fortran_order': False, 'shape': ()}"), Err(Problem::Refused(m)) if m.contains("pickle")));
        assert!(matches!(parse("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': ()}"), Err(Problem::Unsupported(m)) if m.contains("structured")));
        assert!(matches!(parse("{'descr': '<U4', 'fortran_order': False, 'shape': ()}"), Err(Problem::Unsupported(_))));
    }

    #[test]
    fn prefix_rules() {
        assert!(matches!(header_total_len(b"\x93NUMPX\x01\x00\x00\x00"), Err(Problem::Invalid(m)) if m.contains("magic")));
        assert!(matches!(header_total_len(b"\x93NUMPY\x04\x00\x00\x00"), Err(Problem::Unsupported(m)) if m.contains("4.0")));
        assert!(matches!(header_total_len(b"\x93NUMPY\x02\x00\x00\x00\x20\x00"), Err(Problem::Invalid(m)) if m.contains("limit")));
        assert_eq!(header_total_len(b"\x93NUMPY\x01\x00\x76\x00").unwrap(), 128);
        let mut short = header("{'descr': '<f4', 'fortran_order': False, 'shape': ()}");
        short.truncate(20);
        assert!(matches!(parse_header(&short), Err(Problem::Invalid(m)) if m.contains("beyond the end")));
    }

    #[test]
    fn encoded_headers_parse_back_and_align() {
        for shape in [vec![], vec![5], vec![2, 3, 4], vec![0, 7]] {
            for fortran in [false, true] {
                let h = encode_header(DType::I16, &shape, fortran).unwrap();
                assert_eq!(h.len() % 64, 0);
                assert_eq!(*h.last().unwrap(), b'\n');
                let p = parse_header(&h).unwrap();
                assert_eq!((p.shape.clone(), p.fortran_order, p.dtype, p.data_offset), (shape.clone(), fortran, DType::I16, h.len()));
            }
        }
        let big = encode_header(DType::U8, &[1; 64], false).unwrap();
        assert_eq!(parse_header(&big).unwrap().version, (1, 0));
        assert!(encode_header(DType::BF16, &[1], false).is_none());
    }
}
