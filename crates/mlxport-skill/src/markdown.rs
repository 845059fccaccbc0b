//! What the audit reads out of Markdown: relative links with their
//! anchors, the anchors a page defines, and the `mlxport ...` command lines
//! (inline code spans, fenced code blocks, `cargo run ... -p mlxport -- ...`)
//! turned into concrete argument lists that can be parsed by the real CLI.
//!
//! Command lines in the docs are often synopses: `[--flag VALUE]` optional
//! groups, `(a | b)` required choices, `A|B` value choices, `PATH...`
//! repetitions. [`instances`] expands a synopsis into the invocations it
//! stands for: the required part alone, then the required part with each
//! optional group and each alternative in turn, so every flag is tried
//! with the value the synopsis gives it.

/// A link found in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub line: usize,
    pub target: String,
}

/// A command line found in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub line: usize,
    /// The text after `mlxport` as written.
    pub text: String,
    /// Marked `(planned)` right after the code span.
    pub planned: bool,
}

/// Lines of prose (outside fenced blocks), with their line numbers, and
/// the fenced lines.
/// Numbered lines of a page.
type Lines<'a> = Vec<(usize, &'a str)>;

fn split_fences(text: &str) -> (Lines<'_>, Lines<'_>) {
    let mut prose = Vec::new();
    let mut code = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = if t.starts_with("```") {
            Some("```")
        } else if t.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (Some(_), _) => code.push((i + 1, line)),
            (None, None) => prose.push((i + 1, line)),
        }
    }
    (prose, code)
}

/// Inline code spans of a line: (start byte of the span's content, content).
fn code_spans(line: &str) -> Vec<(usize, usize, String)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let mut n = 0;
            while i + n < b.len() && b[i + n] == b'`' {
                n += 1;
            }
            let open = i + n;
            let ticks = "`".repeat(n);
            // Find a closing run of exactly n backticks.
            let mut j = open;
            let mut close = None;
            while let Some(p) = line[j..].find(&ticks) {
                let at = j + p;
                let mut m = 0;
                while at + m < b.len() && b[at + m] == b'`' {
                    m += 1;
                }
                if m == n {
                    close = Some(at);
                    break;
                }
                j = at + m;
            }
            match close {
                Some(c) => {
                    out.push((open, c + n, line[open..c].trim().to_string()));
                    i = c + n;
                }
                None => i = open,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Remove inline code from a line (for link extraction).
fn without_code(line: &str) -> String {
    let mut s = String::new();
    let mut last = 0;
    for (open, end, _) in code_spans(line) {
        let start = line[..open].trim_end_matches('`').len();
        s.push_str(&line[last..start]);
        last = end;
    }
    s.push_str(&line[last..]);
    s
}

/// Relative links (`[text](target)`, `![alt](target)`), outside code.
pub fn links(text: &str) -> Vec<Link> {
    let (prose, _) = split_fences(text);
    let mut out = Vec::new();
    for (n, line) in prose {
        let l = without_code(line);
        let mut rest = l.as_str();
        while let Some(p) = rest.find("](") {
            let after = &rest[p + 2..];
            let mut depth = 0;
            let mut end = None;
            for (k, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = Some(k);
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let Some(e) = end else { break };
            let target = after[..e].split_whitespace().next().unwrap_or("").trim_matches(['<', '>']).to_string();
            if !target.is_empty() {
                out.push(Link { line: n, target });
            }
            rest = &after[e..];
        }
    }
    out
}

/// Whether a link points outside the repository.
pub fn is_external(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.contains("://") || t.starts_with("mailto:") || t.starts_with("data:") || t.starts_with("tel:")
}

/// GitHub's anchor for a heading.
pub fn slug(heading: &str) -> String {
    let mut s = String::new();
    for c in heading.trim().to_lowercase().chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            s.push(c);
        } else if c == ' ' {
            s.push('-');
        }
    }
    s
}

/// Anchors a page defines: heading slugs and explicit `id="..."`.
pub fn anchors(text: &str) -> Vec<String> {
    let (prose, _) = split_fences(text);
    let mut out = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for (_, line) in prose {
        let t = line.trim_start();
        if t.starts_with('#') {
            let h = t.trim_start_matches('#');
            if h.starts_with(' ') {
                let base = slug(h);
                let k = counts.entry(base.clone()).or_insert(0);
                out.push(if *k == 0 { base.clone() } else { format!("{base}-{k}") });
                *k += 1;
            }
        }
        let mut rest = line;
        while let Some(p) = rest.find("id=\"") {
            let after = &rest[p + 4..];
            if let Some(e) = after.find('"') {
                out.push(after[..e].to_string());
                rest = &after[e..];
            } else {
                break;
            }
        }
    }
    out
}

/// The argument text after `mlxport` in a piece of code, if it is a
/// command line.
fn command_text(code: &str) -> Option<String> {
    let c = code.trim().trim_start_matches("$ ").trim();
    if c == "mlxport" {
        return Some(String::new());
    }
    if let Some(rest) = c.strip_prefix("mlxport ") {
        return Some(rest.trim().to_string());
    }
    // cargo run [--release] -p mlxport -- ARGS
    if c.starts_with("cargo run") && c.contains("-p mlxport") {
        if let Some(p) = c.find(" -- ") {
            return Some(c[p + 4..].trim().to_string());
        }
        return Some(String::new());
    }
    None
}

/// Command lines in a page: code spans in prose and lines of fenced
/// blocks (a `cargo run` line may follow `&&`).
pub fn commands(text: &str) -> Vec<CommandLine> {
    let (prose, code) = split_fences(text);
    let mut out = Vec::new();
    for (n, line) in prose {
        let unescaped = line.replace("\\|", "|");
        for (_, end, span) in code_spans(&unescaped) {
            if let Some(t) = command_text(&span) {
                let planned = unescaped[end..].trim_start().starts_with("(planned)");
                out.push(CommandLine { line: n, text: t, planned });
            }
        }
    }
    for (n, line) in code {
        for part in line.split("&&") {
            if let Some(t) = command_text(part) {
                out.push(CommandLine { line: n, text: t, planned: false });
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Node {
    Word(String),
    /// `[ ... | ... ]`
    Optional(Vec<Vec<Node>>),
    /// `( ... | ... )`
    Choice(Vec<Vec<Node>>),
}

fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut had = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    had = true;
                }
                '[' | ']' | '(' | ')' => {
                    if had || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                        had = false;
                    }
                    out.push(format!("\u{0}{c}"));
                }
                c if c.is_whitespace() => {
                    if had || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                        had = false;
                    }
                }
                _ => cur.push(c),
            },
        }
    }
    if quote.is_some() {
        return Err("unbalanced quote".into());
    }
    if had || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn parse_seq(tokens: &[String], i: &mut usize, close: Option<&str>) -> Result<Vec<Vec<Node>>, String> {
    let mut alts = vec![Vec::new()];
    while *i < tokens.len() {
        let t = &tokens[*i];
        *i += 1;
        match t.as_str() {
            "\u{0}[" => {
                let inner = parse_seq(tokens, i, Some("\u{0}]"))?;
                alts.last_mut().unwrap().push(Node::Optional(inner));
            }
            "\u{0}(" => {
                let inner = parse_seq(tokens, i, Some("\u{0})"))?;
                alts.last_mut().unwrap().push(Node::Choice(inner));
            }
            "\u{0}]" | "\u{0})" => {
                if close == Some(t.as_str()) {
                    return Ok(alts);
                }
                return Err(format!("unbalanced '{}'", &t[1..]));
            }
            "|" => alts.push(Vec::new()),
            w => alts.last_mut().unwrap().push(Node::Word(w.to_string())),
        }
    }
    if let Some(c) = close {
        return Err(format!("missing '{}'", &c[1..]));
    }
    Ok(alts)
}

/// A word of a synopsis as a concrete argument: `PATH...` → `PATH`,
/// `a|b` → `a`; `None` for pure elisions (`...`, `OPTIONS`).
fn concrete(w: &str) -> Option<String> {
    if w == "..." || w == "…" || w == "OPTIONS" {
        return None;
    }
    let w = w.strip_suffix("...").or_else(|| w.strip_suffix('…')).unwrap_or(w);
    let w = if w.starts_with('-') && w.contains('=') { w.to_string() } else { w.split('|').next().unwrap_or(w).to_string() };
    Some(w)
}

/// The required part of a sequence (first choice of each `( )`); `None`
/// when it contains an elision.
fn base(seq: &[Node]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for n in seq {
        match n {
            Node::Word(w) => out.push(concrete(w)?),
            Node::Optional(_) => {}
            Node::Choice(alts) => out.extend(base(alts.first()?)?),
        }
    }
    Some(out)
}

/// Every invocation a synopsis stands for (see the module docs). Pieces
/// that elide their arguments (`[OPTIONS]`, `[--objective ...]`) are left
/// out. An error means the synopsis itself is malformed.
pub fn instances(text: &str) -> Result<Vec<Vec<String>>, String> {
    let toks = tokenize(text)?;
    let mut i = 0;
    let top = parse_seq(&toks, &mut i, None)?;
    let mut out: Vec<Vec<String>> = Vec::new();
    // Leading subcommand words of the first alternative, for alternatives
    // written without them (`bench check R... | --baseline A --candidate B`).
    let prefix: Vec<String> = top[0]
        .iter()
        .map_while(|n| match n {
            Node::Word(w) if w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-') => Some(w.clone()),
            _ => None,
        })
        .collect();
    for (k, seq) in top.iter().enumerate() {
        let mut seq = seq.clone();
        if k > 0 && !seq.is_empty() {
            let starts_with_prefix = matches!(&seq[0], Node::Word(w) if prefix.first() == Some(w));
            if !starts_with_prefix {
                let mut p: Vec<Node> = prefix.iter().map(|w| Node::Word(w.clone())).collect();
                p.extend(seq);
                seq = p;
            }
        }
        let Some(b) = base(&seq) else { continue };
        out.push(b.clone());
        for (j, n) in seq.iter().enumerate() {
            let alts = match n {
                Node::Optional(a) => a.iter().collect::<Vec<_>>(),
                Node::Choice(a) => a.iter().skip(1).collect(),
                Node::Word(_) => continue,
            };
            for alt in alts {
                let mut variant = seq.clone();
                variant[j] = Node::Choice(vec![alt.clone()]);
                if let Some(v) = base(&variant) {
                    out.push(v);
                }
            }
        }
    }
    out.dedup();
    Ok(out)
}
