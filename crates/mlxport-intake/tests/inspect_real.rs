//! `inspect` on the real models of the reference environment:
//! all-MiniLM-L6-v2 (safetensors directory), SmolLM2-135M as GGUF and as the
//! Hugging Face directory `python/fixtures.py` builds from it. Digests are
//! checked against Python's hashlib, parameter counts against transformers.

mod inspect_support;

use std::collections::BTreeMap;

use inspect_support::*;
use mlxport_intake::routing::Confidence;

#[test]
fn minilm_routes_to_encoder_apache_no_blockers() {
    let Some(p) = python() else { return };
    let model = minilm(&p);
    let i = run(&model);
    assert_eq!(i.routing.family.as_deref(), Some("encoder"), "{}", summary(&i));
    assert!(i.routing.confidence >= Confidence::Medium);
    assert_eq!(i.routing.runbook.as_deref(), Some("runbook/encoder"));
    assert_eq!(i.facts.model_type.as_deref(), Some("bert"));
    assert_eq!(i.tensors.parameters, 22_713_728);
    assert_eq!(i.size.parameters, 22_713_728);
    assert_eq!(i.license.spdx.as_deref(), Some("apache-2.0"), "{:?}", i.license);
    assert_eq!(i.license.class.as_str(), "permissive");
    assert_eq!(i.license.redistribution.as_str(), "yes");
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    assert!(i.quantization.is_none());
    assert!(i.complete);
    assert_eq!(i.model.kind, "directory");
    assert!(i.configs.iter().any(|c| c.path == "config.json" && c.value.is_some()));
    assert!(i.routing.traits.iter().any(|t| t == "sentence_embedding"), "{:?}", i.routing.traits);
}

#[test]
fn minilm_sha256_equals_hashlib_for_every_file() {
    let Some(p) = python() else { return };
    let model = minilm(&p);
    let i = run(&model);
    let out = py(
        &p,
        r#"
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for d, _, files in os.walk(root):
    for f in files:
        full = os.path.join(d, f)
        if os.path.islink(full) or not os.path.isfile(full):
            continue
        h = hashlib.sha256()
        with open(full, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out[os.path.relpath(full, root).replace(os.sep, "/")] = h.hexdigest()
print(json.dumps(out))
"#,
        &[model.to_str().unwrap()],
    );
    let want: BTreeMap<String, String> = serde_json::from_str(&out).unwrap();
    let got: BTreeMap<String, String> = i.files.iter().map(|f| (f.path.clone(), f.sha256.clone().expect("every file hashed"))).collect();
    assert!(want.len() >= 5, "{want:?}");
    assert_eq!(got, want);
    assert_eq!(i.model.files, want.len());
    assert_eq!(i.model.fingerprint.len(), 64);
}

#[test]
fn smollm2_gguf_routes_from_metadata_q4_1_license_from_metadata() {
    let Some(p) = python() else { return };
    let gguf = smollm2_gguf(&p);
    let i = run(&gguf);
    assert_eq!(i.model.kind, "file");
    assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"), "{}", summary(&i));
    assert!(
        i.routing.evidence.iter().any(|e| e.signal == "gguf.general.architecture" && e.value == "llama" && e.decisive),
        "routing must rest on GGUF general.architecture: {:?}",
        i.routing.evidence
    );
    assert!(i.facts.model_type.is_none(), "no config.json: the family comes from the GGUF metadata");
    let q = i.quantization.as_ref().expect("quantization detected");
    assert_eq!(q.scheme, "gguf");
    assert_eq!(q.mode.as_deref(), Some("Q4_1"), "{q:?}");
    assert!(q.types.contains_key("Q4_1"), "{q:?}");
    assert_eq!(i.license.spdx.as_deref(), Some("apache-2.0"), "{:?}", i.license);
    assert!(i.license.evidence.iter().any(|e| e.source == "gguf"), "{:?}", i.license.evidence);
    assert_eq!(i.license.redistribution.as_str(), "yes");
    // Architecture facts from the metadata (REAL_DATA.md).
    assert_eq!(i.facts.num_hidden_layers, Some(30));
    assert_eq!(i.facts.hidden_size, Some(576));
    assert_eq!(i.facts.num_attention_heads, Some(9));
    assert_eq!(i.facts.num_key_value_heads, Some(3));
    let kv = i.size.kv_cache.as_ref().expect("kv cache estimate");
    assert_eq!(kv.bytes_per_token, 2 * 30 * 3 * 64 * 2);
    assert!(i.tensors.tying.tied, "no output.weight in the GGUF: the head reuses token_embd");
    assert!(i.tensors.tying.lm_head_missing);
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    // Logical parameters: the same 134,515,008 transformers counts for the
    // dequantized model (checked in the HF-directory test).
    assert_eq!(i.tensors.parameters, 134_515_008);
}

#[test]
fn smollm2_hf_directory_dense_decoder_tied_params_match_transformers() {
    let Some(p) = python() else { return };
    let dir = smollm2_hf(&p);
    let stamp: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(".complete")).unwrap()).unwrap();
    let transformers_params = stamp["parameters"].as_u64().unwrap();
    let i = run(&dir);
    assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"), "{}", summary(&i));
    assert_eq!(i.facts.model_type.as_deref(), Some("llama"));
    assert_eq!(i.facts.architectures, ["LlamaForCausalLM"]);
    assert_eq!(i.tensors.tying.tie_word_embeddings, Some(true));
    assert!(i.tensors.tying.lm_head_missing, "{:?}", i.tensors.tying);
    assert!(i.tensors.tying.tied);
    assert_eq!(i.tensors.tying.embedding.as_deref(), Some("model.embed_tokens.weight"));
    assert_eq!(i.tensors.parameters, transformers_params, "transformers counts {transformers_params} unique parameters");
    assert_eq!(i.tensors.bytes_by_dtype.get("F32"), Some(&(transformers_params * 4)));
    assert!(i.quantization.is_none(), "{:?}", i.quantization);
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    assert!(i.routing.references.mlx_lm.is_some());
}
