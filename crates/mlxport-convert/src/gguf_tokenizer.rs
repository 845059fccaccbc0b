//! Hugging Face tokenizer files rebuilt from GGUF metadata.
//!
//! A GGUF file has no `tokenizer.json`; llama.cpp stores the vocabulary,
//! merges, token types and special token ids as metadata
//! (`tokenizer.ggml.*`). [`tokenizer_files`] rebuilds `tokenizer.json`,
//! `tokenizer_config.json` and `special_tokens_map.json` that behave exactly
//! like the tokenizer transformers builds from the same file
//! (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`): same ids for every
//! text, same decoded text, same chat template. The rules, as transformers
//! applies them:
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE. A token spelled
//!   entirely in the GPT-2 byte alphabet is kept; any other token is
//!   respelled byte by byte (its UTF-8 bytes through that alphabet). Merges
//!   come from `tokenizer.ggml.merges`. The pre-tokenizer is byte-level with
//!   the GPT-2 split pattern, unless `tokenizer.ggml.pre` names a split
//!   pattern transformers knows (llama-bpe, qwen2, gpt-4o, ... — the table
//!   below), which then runs before a byte-level step without a pattern.
//!   SmolLM2's `smollm` is not in that table: it gets the GPT-2 pattern.
//!   (llama.cpp, like SmolLM2's original `tokenizer.json`, splits every
//!   digit off first; the two agree on digits themselves — no SmolLM2 merge
//!   joins ASCII digits — but not on whitespace before a digit: `"  3"` is
//!   `Ġ`,`Ġ`,`3` here and in transformers, `ĠĠ`,`3` in llama.cpp. We follow
//!   transformers, the reference this module is tested against.)
//! - `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE with byte
//!   fallback: `▁` for spaces, prepended to the first word, `<0xNN>` byte
//!   tokens. Merges come from the file or, when it has none, from the
//!   vocabulary and `tokenizer.ggml.scores` (every split of a token into two
//!   tokens, best score first). `phi3` prepends and replaces spaces with a
//!   normalizer instead. Gemma files need more than this and are refused.
//! - Token type 3 (control) becomes a special added token — for byte-level
//!   vocabularies only when spelled in the byte alphabet (llama.cpp
//!   mislabels some others); type 4 (user-defined) a plain added token. The
//!   tokens named by `bos/eos/unknown/padding_token_id` are special, and so
//!   are the tokens a transformers class names by default (`<|endoftext|>`
//!   for byte-level, `<unk>`, `<s>`, `</s>` for SentencePiece) when the
//!   vocabulary has them. Where transformers would append a token the
//!   vocabulary lacks, we add nothing: a new id would lie outside the
//!   model's embedding.
//! - `tokenizer.ggml.add_bos_token` / `add_eos_token` become the
//!   post-processor (a SentencePiece vocabulary adds BOS unless the file
//!   says otherwise).
//! - Duplicate token strings: the last id wins, as in transformers.
//!
//! The output is deterministic: JSON with fixed key order, vocabulary and
//! added tokens in id order.

use std::collections::{BTreeMap, HashMap, HashSet};

use mlxport_tensor::gguf::{Array, GgufFile};
use mlxport_tensor::{Error, TensorSource};
use serde_json::{json, Map, Value};

/// `tokenizer.ggml.model` values [`tokenizer_files`] rebuilds.
pub const SUPPORTED_TOKENIZER_MODELS: &[&str] = &["gpt2", "llama"];

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// Split patterns transformers runs before byte-level BPE, by
/// `tokenizer.ggml.pre`. Any other pre type gets the GPT-2 pattern inside
/// the byte-level pre-tokenizer.
const LLAMA3_SPLIT: &str = concat!(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}", r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+");
const TEKKEN_SPLIT: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*",
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);
const GPT4O_SPLIT: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split_pattern(pre: &str) -> Option<&'static str> {
    Some(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" | "jina-v5-nano" | "dbrx" | "smaug-bpe" => LLAMA3_SPLIT,
        "tekken" => TEKKEN_SPLIT,
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" => QWEN2_SPLIT,
        "qwen35" => QWEN35_SPLIT,
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => GPT4O_SPLIT,
        _ => return None,
    })
}

/// The tokenizer metadata of a GGUF file, validated.
struct Meta<'a> {
    arch: &'a str,
    model: &'a str,
    pre: Option<&'a str>,
    tokens: &'a [String],
    token_types: Option<Vec<i64>>,
    merges: Option<&'a [String]>,
    scores: Option<Vec<f64>>,
    bos: Option<usize>,
    eos: Option<usize>,
    unk: Option<usize>,
    pad: Option<usize>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<&'a str>,
    context_length: Option<u64>,
}

impl<'a> Meta<'a> {
    fn read(g: &'a GgufFile) -> Result<Self, Error> {
        let arch = g.get_str("general.architecture").ok_or_else(|| missing(g, "general.architecture"))?;
        let model = match g.get("tokenizer.ggml.model") {
            None => return Err(missing(g, "tokenizer.ggml.model")),
            Some(v) => v.as_str().ok_or_else(|| invalid(g, "'tokenizer.ggml.model' is not a string"))?,
        };
        if !SUPPORTED_TOKENIZER_MODELS.contains(&model) {
            return Err(Error::unsupported(
                g.path(),
                format!(
                    "tokenizer model '{model}' (tokenizer.ggml.model): no tokenizer.json \
                     rebuild for it (supported: {})",
                    SUPPORTED_TOKENIZER_MODELS.join(", ")
                ),
            ));
        }
        if model == "llama" && arch.starts_with("gemma") {
            return Err(Error::unsupported(
                g.path(),
                format!(
                    "SentencePiece tokenizer of a '{arch}' model: Gemma vocabularies need \
                     respelled whitespace tokens and position-ordered merges, not rebuilt here"
                ),
            ));
        }
        let tokens = match g.get("tokenizer.ggml.tokens") {
            None => return Err(missing(g, "tokenizer.ggml.tokens")),
            Some(v) => v.as_array().and_then(Array::as_strings).ok_or_else(|| invalid(g, "'tokenizer.ggml.tokens' is not an array of strings"))?,
        };
        if tokens.is_empty() {
            return Err(invalid(g, "'tokenizer.ggml.tokens' is empty"));
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(invalid(g, "'tokenizer.ggml.tokens' has more than 2^32 entries"));
        }
        let token_types = match g.get_array("tokenizer.ggml.token_type") {
            None if g.get("tokenizer.ggml.token_type").is_some() => return Err(invalid(g, "'tokenizer.ggml.token_type' is not an array")),
            None => None,
            Some(a) => {
                let v = int_array(a).ok_or_else(|| invalid(g, "'tokenizer.ggml.token_type' is not an array of integers"))?;
                if v.len() != tokens.len() {
                    return Err(invalid(g, format!("'tokenizer.ggml.token_type' has {} entries for {} tokens", v.len(), tokens.len())));
                }
                Some(v)
            }
        };
        let merges = match g.get("tokenizer.ggml.merges") {
            None => None,
            Some(v) => Some(v.as_array().and_then(Array::as_strings).ok_or_else(|| invalid(g, "'tokenizer.ggml.merges' is not an array of strings"))?),
        };
        let scores = match g.get("tokenizer.ggml.scores") {
            None => None,
            Some(v) => {
                let s = v.as_array().and_then(float_array).ok_or_else(|| invalid(g, "'tokenizer.ggml.scores' is not an array of floats"))?;
                if s.len() != tokens.len() {
                    return Err(invalid(g, format!("'tokenizer.ggml.scores' has {} entries for {} tokens", s.len(), tokens.len())));
                }
                Some(s)
            }
        };
        if model == "gpt2" && merges.is_none() {
            return Err(Error::invalid(g.path(), "GGUF", "metadata key 'tokenizer.ggml.merges' is missing (a byte-level BPE tokenizer needs its merges)"));
        }
        if model == "llama" && merges.is_none() && scores.is_none() {
            return Err(invalid(
                g,
                "metadata keys 'tokenizer.ggml.merges' and 'tokenizer.ggml.scores' are both \
                 missing (a SentencePiece BPE tokenizer needs one of them)",
            ));
        }
        let id = |key: &str| -> Result<Option<usize>, Error> {
            match g.get(key) {
                None => Ok(None),
                Some(v) => {
                    let id = v.as_u64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| invalid(g, format!("'{key}' is not a token id")))?;
                    if id >= tokens.len() {
                        return Err(invalid(g, format!("'{key}' = {id} is outside the vocabulary of {}", tokens.len())));
                    }
                    Ok(Some(id))
                }
            }
        };
        let flag = |key: &str| -> Result<Option<bool>, Error> {
            match g.get(key) {
                None => Ok(None),
                Some(v) => v.as_bool().map(Some).ok_or_else(|| invalid(g, format!("'{key}' is not a bool"))),
            }
        };
        let pre = match g.get("tokenizer.ggml.pre") {
            None => None,
            Some(v) => Some(v.as_str().ok_or_else(|| invalid(g, "'tokenizer.ggml.pre' is not a string"))?),
        };
        let chat_template = match g.get("tokenizer.chat_template") {
            None => None,
            Some(v) => Some(v.as_str().ok_or_else(|| invalid(g, "'tokenizer.chat_template' is not a string"))?),
        };
        Ok(Meta {
            arch,
            model,
            pre,
            tokens,
            token_types,
            merges,
            scores,
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            // llama.cpp adds BOS to a SentencePiece vocabulary that does not
            // say otherwise; older files have no flag.
            add_bos: flag("tokenizer.ggml.add_bos_token")?.unwrap_or(model == "llama"),
            add_eos: flag("tokenizer.ggml.add_eos_token")?.unwrap_or(false),
            chat_template,
            context_length: g.get_u64(&format!("{arch}.context_length")),
        })
    }

    fn token_type(&self, i: usize) -> Option<i64> {
        self.token_types.as_ref().and_then(|t| t.get(i).copied())
    }
}

/// The GPT-2 byte alphabet: byte `b` is spelled `BYTE_CHARS[b]`.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in out.iter_mut().enumerate() {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).unwrap_or('\u{fffd}');
    }
    out
}

/// The tokenizer model, pre-tokenization and decoding a GGUF file implies.
struct Built {
    /// Token string -> id; a duplicated string keeps its last id.
    vocab: HashMap<String, u32>,
    merges: Vec<(String, String)>,
    normalizer: Value,
    pre_tokenizer: Value,
    decoder: Value,
    byte_fallback: bool,
    fuse_unk: bool,
    /// `null` for byte-level BPE (`""` affixes) vs SentencePiece (`null`).
    affix: Value,
    /// Tokens a transformers tokenizer class names by default.
    class_defaults: &'static [&'static str],
    /// The GPT-2 alphabet, for byte-level vocabularies.
    alphabet: Option<HashSet<char>>,
}

fn build_byte_level(g: &GgufFile, m: &Meta) -> Result<Built, Error> {
    let chars = byte_chars();
    let alphabet: HashSet<char> = chars.iter().copied().collect();
    let mut vocab = HashMap::with_capacity(m.tokens.len());
    for (i, t) in m.tokens.iter().enumerate() {
        let spelled = if t.chars().all(|c| alphabet.contains(&c)) { t.clone() } else { t.bytes().map(|b| chars[usize::from(b)]).collect() };
        vocab.insert(spelled, i as u32);
    }
    let merges = parse_merges(g, m.merges.unwrap_or_default())?;
    let pre_tokenizer = match m.pre.and_then(split_pattern) {
        Some(pattern) => json!({
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
            ]
        }),
        None => {
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})
        }
    };
    Ok(Built {
        vocab,
        merges,
        normalizer: Value::Null,
        pre_tokenizer,
        decoder: json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        byte_fallback: false,
        fuse_unk: false,
        affix: Value::String(String::new()),
        class_defaults: &["<|endoftext|>"],
        alphabet: Some(alphabet),
    })
}

fn build_sentencepiece(g: &GgufFile, m: &Meta) -> Result<Built, Error> {
    let mut vocab = HashMap::with_capacity(m.tokens.len());
    for (i, t) in m.tokens.iter().enumerate() {
        vocab.insert(t.clone(), i as u32);
    }
    let merges = match (m.merges, &m.scores) {
        (Some(merges), _) => parse_merges(g, merges)?,
        (None, Some(scores)) => merges_from_scores(m.tokens, scores, &vocab),
        (None, None) => unreachable!("checked in Meta::read"),
    };
    let decoder = json!({
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}
        ]
    });
    let (normalizer, pre_tokenizer) = if m.arch == "phi3" {
        // Phi-3 prepends and replaces spaces in a normalizer: "  hi" keeps
        // both spaces after the prepended one.
        (
            json!({
                "type": "Sequence",
                "normalizers": [
                    {"type": "Prepend", "prepend": "\u{2581}"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}
                ]
            }),
            Value::Null,
        )
    } else {
        (Value::Null, json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "first", "split": false}))
    };
    Ok(Built {
        vocab,
        merges,
        normalizer,
        pre_tokenizer,
        decoder,
        byte_fallback: true,
        fuse_unk: true,
        affix: Value::Null,
        class_defaults: &["<unk>", "<s>", "</s>"],
        alphabet: None,
    })
}

fn parse_merges(g: &GgufFile, merges: &[String]) -> Result<Vec<(String, String)>, Error> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut parts = m.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => Ok((a.to_string(), b.to_string())),
                _ => Err(invalid(g, format!("tokenizer.ggml.merges[{i}] = {m:?} is not two tokens separated by one space"))),
            }
        })
        .collect()
}

/// Merges implied by a vocabulary and its scores: every split of a token
/// into two tokens of the vocabulary, best-scoring token first (ties: the
/// longer left part first), splits of one token in vocabulary order of
/// their parts. This is transformers' `generate_merges` with scores.
fn merges_from_scores(tokens: &[String], scores: &[f64], vocab: &HashMap<String, u32>) -> Vec<(String, String)> {
    // Token -> score, last one winning, iterated in first-occurrence order.
    let mut order: Vec<&str> = Vec::with_capacity(tokens.len());
    let mut score_of: HashMap<&str, f64> = HashMap::with_capacity(tokens.len());
    for (t, &s) in tokens.iter().zip(scores) {
        if score_of.insert(t.as_str(), s).is_none() {
            order.push(t.as_str());
        }
    }
    struct Cand<'t> {
        left: &'t str,
        right: &'t str,
        score: f64,
        left_chars: usize,
        right_chars: usize,
    }
    let mut all: Vec<Cand> = Vec::new();
    for token in order {
        let score = score_of[token];
        let mut local: Vec<Cand> = token
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (left, right) = token.split_at(at);
                (vocab.contains_key(left) && vocab.contains_key(right)).then(|| Cand {
                    left,
                    right,
                    score,
                    left_chars: left.chars().count(),
                    right_chars: right.chars().count(),
                })
            })
            .collect();
        local.sort_by_key(|c| (vocab[c.left], vocab[c.right]));
        all.extend(local);
    }
    // Stable, descending: equal keys keep their order, as Python's
    // `sorted(..., reverse=True)` does.
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.left_chars.cmp(&a.left_chars)).then(b.right_chars.cmp(&a.right_chars)));
    all.into_iter().map(|c| (c.left.to_string(), c.right.to_string())).collect()
}

/// The added tokens: id -> (content, special).
fn added_tokens(m: &Meta, b: &Built) -> BTreeMap<u32, (String, bool)> {
    let mut added: BTreeMap<u32, (String, bool)> = BTreeMap::new();
    let mut by_content: HashMap<String, u32> = HashMap::new();
    let mut add = |content: &str, special: bool, added: &mut BTreeMap<u32, (String, bool)>| {
        if by_content.contains_key(content) {
            return;
        }
        // An added token whose content the model vocabulary has takes that
        // id; one it lacks would get a new id, which we never invent.
        if let Some(&id) = b.vocab.get(content) {
            by_content.insert(content.to_string(), id);
            added.insert(id, (content.to_string(), special));
        }
    };
    // 1. The names the transformers class gives its special tokens.
    for t in b.class_defaults {
        add(t, true, &mut added);
    }
    // 2. Control tokens (byte-level: only those spelled in the alphabet).
    for (i, t) in m.tokens.iter().enumerate() {
        if m.token_type(i) == Some(TOKEN_TYPE_CONTROL) && b.alphabet.as_ref().is_none_or(|a| t.chars().all(|c| a.contains(&c))) {
            add(t, true, &mut added);
        }
    }
    // 3. User-defined tokens: matched whole, not special.
    for (i, t) in m.tokens.iter().enumerate() {
        if m.token_type(i) == Some(TOKEN_TYPE_USER_DEFINED) {
            add(t, false, &mut added);
        }
    }
    // 4. The named special tokens.
    for id in [m.bos, m.eos, m.unk, m.pad].into_iter().flatten() {
        add(&m.tokens[id], true, &mut added);
    }
    added
}

fn post_processor(m: &Meta) -> Value {
    let bos = m.bos.filter(|_| m.add_bos).map(|i| (m.tokens[i].as_str(), i));
    let eos = m.eos.filter(|_| m.add_eos).map(|i| (m.tokens[i].as_str(), i));
    let special = |t: &str, type_id: u32| json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    let mut single = Vec::new();
    let mut pair = Vec::new();
    for (part, type_id) in [("A", 0u32), ("B", 1)] {
        let mut items = Vec::new();
        if let Some((t, _)) = bos {
            items.push(special(t, type_id));
        }
        items.push(seq(part, type_id));
        if let Some((t, _)) = eos {
            items.push(special(t, type_id));
        }
        if part == "A" {
            single = items.clone();
        }
        pair.extend(items);
    }
    let mut specials = Map::new();
    for (t, id) in [bos, eos].into_iter().flatten() {
        specials.insert(t.to_string(), json!({"id": t, "ids": [id], "tokens": [t]}));
    }
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

fn tokenizer_json(m: &Meta, b: &Built) -> Value {
    let mut by_id: Vec<(&str, u32)> = b.vocab.iter().map(|(t, &i)| (t.as_str(), i)).collect();
    by_id.sort_unstable_by_key(|&(_, i)| i);
    let vocab: Map<String, Value> = by_id.into_iter().map(|(t, i)| (t.to_string(), Value::from(i))).collect();
    let merges: Vec<Value> = b.merges.iter().map(|(l, r)| json!([l, r])).collect();
    let added: Vec<Value> = added_tokens(m, b)
        .into_iter()
        .map(|(id, (content, special))| {
            json!({
                "id": id,
                "content": content,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": special
            })
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": b.normalizer,
        "pre_tokenizer": b.pre_tokenizer,
        "post_processor": post_processor(m),
        "decoder": b.decoder,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": b.affix,
            "end_of_word_suffix": b.affix,
            "fuse_unk": b.fuse_unk,
            "byte_fallback": b.byte_fallback,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges
        }
    })
}

/// `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`
/// for a GGUF file, as (file name, bytes), in that order. The bytes are a
/// pure function of the file's metadata.
pub fn tokenizer_files(g: &GgufFile) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let m = Meta::read(g)?;
    let built = match m.model {
        "gpt2" => build_byte_level(g, &m)?,
        _ => build_sentencepiece(g, &m)?,
    };
    let tokenizer = tokenizer_json(&m, &built);
    let named = |id: Option<usize>| id.map(|i| m.tokens[i].as_str());
    let names = [("bos_token", named(m.bos)), ("eos_token", named(m.eos)), ("unk_token", named(m.unk)), ("pad_token", named(m.pad))];

    let mut config = Map::new();
    config.insert("add_bos_token".into(), m.add_bos.into());
    config.insert("add_eos_token".into(), m.add_eos.into());
    for (k, v) in names {
        if let Some(t) = v {
            config.insert(k.into(), t.into());
        }
    }
    if let Some(t) = m.chat_template {
        config.insert("chat_template".into(), t.into());
    }
    config.insert("clean_up_tokenization_spaces".into(), false.into());
    if let Some(n) = m.context_length {
        config.insert("model_max_length".into(), n.into());
    }
    config.insert("tokenizer_class".into(), "PreTrainedTokenizerFast".into());

    // Only the named tokens: control tokens are special in tokenizer.json
    // (kept whole, skipped when decoding with `skip_special_tokens`), but
    // transformers' GGUF tokenizer does not list them as additional special
    // tokens, so neither do we (`all_special_ids` stays equal).
    let mut special = Map::new();
    for (k, v) in names {
        if let Some(t) = v {
            special.insert(k.into(), t.into());
        }
    }

    Ok(vec![
        ("tokenizer.json".into(), to_bytes(&tokenizer)),
        ("tokenizer_config.json".into(), to_bytes(&Value::Object(config))),
        ("special_tokens_map.json".into(), to_bytes(&Value::Object(special))),
    ])
}

fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("a JSON value always serializes");
    out.push(b'\n');
    out
}

fn int_array(a: &Array) -> Option<Vec<i64>> {
    Some(match a {
        Array::I8(v) => v.iter().map(|&x| x.into()).collect(),
        Array::U8(v) => v.iter().map(|&x| x.into()).collect(),
        Array::I16(v) => v.iter().map(|&x| x.into()).collect(),
        Array::U16(v) => v.iter().map(|&x| x.into()).collect(),
        Array::I32(v) => v.iter().map(|&x| x.into()).collect(),
        Array::U32(v) => v.iter().map(|&x| x.into()).collect(),
        Array::I64(v) => v.clone(),
        Array::U64(v) => v.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)).collect(),
        _ => return None,
    })
}

fn float_array(a: &Array) -> Option<Vec<f64>> {
    Some(match a {
        Array::F32(v) => v.iter().map(|&x| x.into()).collect(),
        Array::F64(v) => v.clone(),
        _ => return None,
    })
}

fn missing(g: &GgufFile, key: &str) -> Error {
    invalid(g, format!("metadata key '{key}' is missing (a tokenizer needs it)"))
}

fn invalid(g: &GgufFile, rule: impl Into<String>) -> Error {
    Error::invalid(g.path(), "GGUF", rule)
}
