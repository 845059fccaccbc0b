//! Vision-language models end to end: LLaVA checkpoints transformers
//! builds from configs (seed 0) with their processors, ported by one command
//! on real photographs and proven through every rung — the package's own
//! preprocessing and image-token expansion against transformers'
//! processor, the image tower's blocks, the projector, the merged
//! embeddings, the decoder, and greedy decoding with the image in the KV
//! cache. A bug planted in the projector is caught at its rung.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Two llavas: a CLIP tower with the 'default' strategy (class token
/// dropped, second-to-last layer) and a llama decoder, saved as
/// transformers 5 saves it (the processor, image processor included, in
/// processor_config.json); and a SigLIP tower with the 'full' strategy,
/// two feature layers joined, a tied qwen2 decoder, with a separate
/// preprocessor_config.json as released checkpoints have.
const BUILD: &str = r#"
import sys, torch, transformers as T
T.logging.set_verbosity_error()
out = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import matrix_build

def save(name, model, vocab, image_token, ip, processor_kw, separate):
    d = f"{out}/{name}"
    model.eval().save_pretrained(d)
    matrix_build.write_tokenizer(d, vocab, 0)
    tok = T.AutoTokenizer.from_pretrained(d)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    assert tok.convert_tokens_to_ids("<image>") == image_token
    T.LlavaProcessor(image_processor=ip, tokenizer=tok, image_token="<image>", **processor_kw).save_pretrained(d)
    if separate:
        ip.save_pretrained(d)
    open(d + "/README.md", "w").write("---\nlicense: apache-2.0\n---\n")

torch.manual_seed(0)
tc = T.LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.2, bos_token_id=1, eos_token_id=2, pad_token_id=0)
vc = T.CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, image_size=32, patch_size=8, initializer_range=0.2)
c = T.LlavaConfig(vision_config=vc, text_config=tc, image_token_index=500, projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default")
save("llava", T.LlavaForConditionalGeneration(c), 500, 500, T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
     dict(patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1), False)
torch.manual_seed(0)
tc = T.Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.2, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
vc = T.SiglipVisionConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, image_size=28, patch_size=7, initializer_range=0.2)
c = T.LlavaConfig(vision_config=vc, text_config=tc, image_token_index=290, projector_hidden_act="gelu_pytorch_tanh", vision_feature_layer=[-3, -1], vision_feature_select_strategy="full", tie_word_embeddings=True)
save("llava-siglip", T.LlavaForConditionalGeneration(c), 290, 290, T.SiglipImageProcessor(size={"height": 28, "width": 28}),
     dict(patch_size=7, vision_feature_select_strategy="full", num_additional_image_tokens=0), True)
"#;

/// Real photographs, as the user would give them.
const PHOTOS: &str = r#"
import os, shutil, sys, skimage
d = os.path.join(os.path.dirname(skimage.__file__), "data")
for f in ("coffee.png", "rocket.jpg", "camera.png"):
    shutil.copy(os.path.join(d, f), os.path.join(sys.argv[1], f))
"#;

fn port(py_: &Path, src: &Path, dir: &Path, extra: &[&std::ffi::OsStr]) -> Value {
    let o = run(bin!().arg("port").arg(src).arg("--out").arg(dir).args(["--threads", "2"]).args(extra), py_);
    assert!(o.status.success(), "port of {} failed", src.display());
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete", "{p:#}");
    assert_eq!(p["target"], "scaffold", "mlx-lm's llava module runs the decoder alone");
    for s in p["steps"].as_array().unwrap() {
        assert!(s["status"] == "done" || s["status"] == "skipped", "{}: {}", s["name"], s["status"]);
    }
    p
}

fn rung_names(report: &Value) -> Vec<String> {
    report["ladder"]["rungs"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn llava_ports_are_proven_gated_and_benchmarked() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    py(&py_, PHOTOS, &[photos.to_str().unwrap()]);

    // The CLIP llava on the user's photographs, quantized to 8 bits, gated
    // on its captions of them and benchmarked with an image in the prompt.
    let p = d.join("port-llava");
    let q: [&std::ffi::OsStr; 6] = ["--image".as_ref(), photos.as_os_str(), "-q".as_ref(), "--bits".as_ref(), "8".as_ref(), "--bench-runs=2".as_ref()];
    port(&py_, &d.join("llava"), &p, &q);
    let report = read_json(&p.join("parity/parity.json"));
    // Blocks: the two image-tower blocks that run and the two decoder blocks.
    assert_rungs_pass(&report, 4, &["preprocessing", "image_features", "embeddings", "cache_vs_full"], "llava");
    let names = rung_names(&report);
    for want in [
        "preprocessing",
        "vision embeddings",
        "vision isolated layer 0",
        "vision layer 1",
        "image_features",
        "embeddings",
        "isolated layer 1",
        "layer 1",
        "logits",
        "ids",
        "cache_decode",
        "cache_vs_full",
    ] {
        assert!(names.iter().any(|n| n == want), "rung {want} missing: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "vision layer 2"), "the tower's last block feeds nothing (vision_feature_layer -2): {names:?}");
    let capture = read_json(&p.join("capture/manifest.json"));
    for check in ["pixel_values_equal", "image_tokens_expanded_equal", "tokenizer_matches", "cache_argmax_matches_tokens"] {
        assert_eq!(capture["checks"][check], true, "{check}: {:#}", capture["checks"]);
    }
    let oracle = read_json(&p.join("oracle/manifest.json"));
    assert_eq!(oracle["checks"]["generate_agrees_with_cached_greedy"], true);
    assert_eq!(oracle["checks"]["image_tokens_per_image"], 16, "a 4x4 patch grid, the class token dropped");
    let files: Vec<&str> = oracle["inputs"]["images"].as_array().unwrap().iter().map(|i| i["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["camera.png", "coffee.png", "rocket.jpg"]);
    let quality = read_json(&p.join("quality/quality.json"));
    assert_eq!((quality["kind"].as_str(), quality["verdict"].as_str()), (Some("vision-language"), Some("pass")), "{quality:#}");
    assert_eq!(quality["greedy"]["prompts"], 6, "three photographs, each also mirrored");
    assert!(quality["checks"].as_array().unwrap().iter().any(|c| c["name"] == "greedy_prefix"));
    for side in ["float", "quantized"] {
        let r = read_json(&p.join(format!("bench/{side}.json")));
        assert_eq!(r["workload"]["kind"], "generate", "{side}");
        assert_eq!(r["workload"]["parameters"]["image"]["image_tokens"], 16, "{side}");
        let extra = &r["benchmarks"][0]["runs"][0]["extra"];
        assert!(extra["ttft_s"].as_f64().unwrap() > 0.0 && extra["decode_tokens_per_s"].as_f64().unwrap() > 0.0, "{extra:#}");
    }
    // The shipped package: its processor files, and a smoke test that
    // decodes after an image.
    let pkg = p.join("package");
    assert!(pkg.join("processor_config.json").is_file() && pkg.join("llava_mlx/vision/image.py").is_file());
    assert!(read_json(&pkg.join("mlxport-package.json")).to_string().contains("greedy decoding of 4 tokens after an image"));
    // The package's own parity test, with numpy alone, on the float
    // weights (the package ships the quantized ones).
    let o = std::process::Command::new(&py_)
        .args(["-m", "unittest", "llava_mlx.tests.test_parity"])
        .current_dir(&pkg)
        .env("MLXPORT_ORACLE", p.join("oracle/oracle.npz"))
        .env("MLXPORT_WEIGHTS", p.join("weights"))
        .output()
        .unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Ran 1 test"), "{}", String::from_utf8_lossy(&o.stderr));

    // The SigLIP llava on the built-in photographs: two feature layers
    // joined, every token kept, a tied head.
    let s = d.join("port-siglip");
    port(&py_, &d.join("llava-siglip"), &s, &[]);
    let report = read_json(&s.join("parity/parity.json"));
    for r in rungs(&report) {
        assert_eq!(r["status"], "pass", "siglip llava: rung {} did not pass: {}", r["name"], r["failures"]);
    }
    assert!(rung_names(&report).iter().any(|n| n == "vision layer 2"), "feature layer -1 runs the whole tower");
    assert_eq!(read_json(&s.join("oracle/manifest.json"))["checks"]["image_tokens_per_image"], 16, "a 4x4 grid, no class token");

    // A planted bug: the projector's GELU becomes the quick (sigmoid)
    // approximation. The tower is untouched; the projector output is the
    // first rung to diverge.
    let bad = d.join("bad");
    copy_dir(&p.join("scaffold"), &bad.join("llava_mlx"));
    let f = bad.join("llava_mlx/llava.py");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("self._act = activation(args.projector_act)"));
    std::fs::write(&f, text.replace("self._act = activation(args.projector_act)", "self._act = activation(\"quick_gelu\")")).unwrap();
    let input = d.join("oracle-in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(p.join("oracle/oracle.npz"), input.join("oracle.npz")).unwrap();
    std::fs::copy(p.join("oracle/manifest.json"), input.join("oracle.manifest.json")).unwrap();
    let (code, r) = parity(
        &py_,
        &d.join("parity-bad"),
        &[
            "--source".as_ref(),
            d.join("llava").as_os_str(),
            "--target".as_ref(),
            "scaffold".as_ref(),
            "--package".as_ref(),
            bad.join("llava_mlx").as_os_str(),
            "--weights".as_ref(),
            p.join("weights").as_os_str(),
            "--oracle".as_ref(),
            input.join("oracle.npz").as_os_str(),
            "--all".as_ref(),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(first_failed(&r).as_deref(), Some("image_features"), "{:#}", r["first_divergence"]);
    let rs = rungs(&r);
    assert_eq!(rung(&rs, "vision layer 1")["status"], "pass", "the image tower is right");
    assert_eq!(rung(&rs, "isolated layer 0")["status"], "pass", "the decoder's blocks are right");
}

/// The second target: mlx-vlm's own llava on the same converted weights,
/// proven through the same ladder; where mlx-vlm departs from transformers
/// the port says where.
#[test]
fn mlx_vlm_is_proven_where_it_matches_and_caught_where_it_departs() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let mlx_vlm: [&std::ffi::OsStr; 2] = ["--target".as_ref(), "mlx-vlm".as_ref()];

    let o = run(bin!().arg("port").arg(d.join("llava")).arg("--out").arg(d.join("p")).args(mlx_vlm).args(["--threads", "2"]), &py_);
    assert!(o.status.success());
    let p = read_json(&d.join("p/port.json"));
    assert_eq!((p["status"].as_str(), p["target"].as_str()), (Some("complete"), Some("mlx-vlm")), "{p:#}");
    let capture = read_json(&d.join("p/capture/manifest.json"));
    assert_eq!(capture["implementation"], "mlx-vlm");
    assert_eq!(capture["checks"]["image_tokens_expanded_equal"], true);
    assert_rungs_pass(&read_json(&d.join("p/parity/parity.json")), 4, &["preprocessing", "image_features", "cache_vs_full"], "mlx-vlm llava");
    let pkg = read_json(&d.join("p/package/mlxport-package.json"));
    assert!(pkg.to_string().contains("mlx_vlm load_model (strict)"), "{pkg:#}");

    // mlx-vlm's projector is GELU whatever projector_hidden_act says: the
    // same checkpoint with a SiLU projector diverges there (the tower
    // before it passes), and the generated package matches transformers.
    let silu = d.join("llava-silu");
    copy_dir(&d.join("llava"), &silu);
    let mut cfg = read_json(&silu.join("config.json"));
    cfg["projector_hidden_act"] = "silu".into();
    std::fs::write(silu.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
    let o = run(bin!().arg("port").arg(&silu).arg("--out").arg(d.join("p-silu")).args(mlx_vlm).args(["--threads", "2"]), &py_);
    assert!(!o.status.success());
    let r = read_json(&d.join("p-silu/parity/parity.json"));
    assert_eq!(first_failed(&r).as_deref(), Some("image_features"), "{:#}", r["first_divergence"]);
    assert_eq!(rung(&rungs(&r), "vision layer 1")["status"], "pass");
    port(&py_, &silu, &d.join("p-silu-scaffold"), &[]);

    // mlx-vlm's projector reads one vision layer: a llava joining two
    // stops at the weight map, the projector's shape named.
    let o = run(bin!().arg("port").arg(d.join("llava-siglip")).arg("--out").arg(d.join("p-siglip")).args(mlx_vlm), &py_);
    assert!(!o.status.success());
    let p = read_json(&d.join("p-siglip/port.json"));
    assert_eq!(p["stopped_at"], "map-validate", "{p:#}");
    let v = std::fs::read_to_string(d.join("p-siglip/map-validation.json")).unwrap();
    assert!(v.contains("multi_modal_projector.linear_1.weight' is [64, 48], the map's weight (as mlx-vlm loads it) is [64, 96]"), "{v}");
}

/// Vision-language types the template does not implement stop at the
/// plan naming what they need, and `--target mlx-lm` (whose llava module
/// runs the decoder alone) is refused.
#[test]
fn other_vision_language_models_are_refused_by_name() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let o = run(bin!().arg("port").arg(d.join("llava")).arg("--out").arg(d.join("p")).args(["--target", "mlx-lm"]), &py_);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("runs only the language model of a vision-language model"), "{err}");
    // A llava-next: the same weights, the any-resolution config.
    let next = d.join("llava-next");
    copy_dir(&d.join("llava"), &next);
    let mut cfg = read_json(&next.join("config.json"));
    cfg["model_type"] = "llava_next".into();
    cfg["architectures"] = serde_json::json!(["LlavaNextForConditionalGeneration"]);
    cfg["image_grid_pinpoints"] = serde_json::json!([[32, 64], [64, 32]]);
    std::fs::write(next.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
    let o = run(bin!().arg("port").arg(&next).arg("--out").arg(d.join("p2")), &py_);
    assert!(!o.status.success());
    let p = read_json(&d.join("p2/port.json"));
    assert_eq!(p["stopped_at"], "plan", "{p:#}");
    assert!(p.to_string().contains("any-resolution tiling"), "{p:#}");
}
