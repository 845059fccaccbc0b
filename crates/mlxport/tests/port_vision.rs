//! Image models end to end: ViT and DINOv2 checkpoints transformers builds
//! from configs (seed 0), ported by one command on real photographs and
//! proven through every rung, rung 0 being the package's own image
//! preprocessing against the Hugging Face processor's. A bug planted in the
//! package is caught at the rung it breaks; the image reader is checked on
//! real photographs and on hostile files.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Build the checkpoints: a ViT classifier (bilinear resize to a fixed
/// size) and a DINOv2 classifier with SwiGLU and register tokens whose
/// position table (4x4) is resampled to the processor's crop (3x3).
const BUILD: &str = r#"
import sys, torch, transformers as T
T.logging.set_verbosity_error()
out = sys.argv[1]
torch.manual_seed(0)
c = T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32, patch_size=8, num_labels=10, initializer_range=0.2)
T.ViTForImageClassification(c).eval().save_pretrained(out + "/vit")
T.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out + "/vit")
torch.manual_seed(0)
c = T.Dinov2WithRegistersConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=56, patch_size=14, num_register_tokens=4, use_swiglu_ffn=True, num_labels=5, initializer_range=0.2)
T.Dinov2WithRegistersForImageClassification(c).eval().save_pretrained(out + "/dinov2")
T.BitImageProcessor(size={"shortest_edge": 48}, crop_size={"height": 42, "width": 42}, resample=3).save_pretrained(out + "/dinov2")
torch.manual_seed(0)
tc = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32, eos_token_id=2, initializer_range=0.2)
vc = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8, initializer_range=0.2)
T.CLIPModel(T.CLIPConfig(text_config=tc, vision_config=vc, projection_dim=32)).eval().save_pretrained(out + "/clip")
T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32).save_pretrained(out + "/clip")
sys.path.insert(0, sys.argv[2])
import matrix_build
matrix_build.write_tokenizer(out + "/clip", 512, 0)
for name in ("vit", "dinov2", "clip"):
    open(f"{out}/{name}/README.md", "w").write("---\nlicense: apache-2.0\n---\n")
"#;

/// Real photographs of different sizes, modes and formats (scikit-image's
/// samples), written into a folder as the user would give them.
const PHOTOS: &str = r#"
import os, shutil, sys, skimage
d = os.path.join(os.path.dirname(skimage.__file__), "data")
for f in ("coffee.png", "rocket.jpg", "coins.png", "horse.png"):
    shutil.copy(os.path.join(d, f), os.path.join(sys.argv[1], f))
"#;

fn port(py_: &Path, src: &Path, dir: &Path, extra: &[&std::ffi::OsStr]) -> Value {
    let o = run(bin!().arg("port").arg(src).arg("--out").arg(dir).args(["--threads", "2"]).args(extra), py_);
    assert!(o.status.success(), "port of {} failed", src.display());
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete", "{p:#}");
    for s in p["steps"].as_array().unwrap() {
        assert!(s["status"] == "done" || s["status"] == "skipped", "{}: {}", s["name"], s["status"]);
    }
    p
}

#[test]
fn vision_ports_are_proven_end_to_end() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    py(&py_, PHOTOS, &[photos.to_str().unwrap()]);

    // ViT on a folder of the user's images (RGB PNG, JPEG, grayscale, RGBA),
    // quantized to 8 bits, gated and benchmarked on them.
    let vit = d.join("port-vit");
    let q: [&std::ffi::OsStr; 6] = ["--image".as_ref(), photos.as_os_str(), "-q".as_ref(), "--bits".as_ref(), "8".as_ref(), "--bench-runs=2".as_ref()];
    port(&py_, &d.join("vit"), &vit, &q);
    let quality = read_json(&vit.join("quality/quality.json"));
    assert_eq!((quality["kind"].as_str(), quality["verdict"].as_str()), (Some("vision"), Some("pass")), "{quality:#}");
    let names: Vec<&str> = quality["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["top1", "top5", "cosine_mean", "cosine_min"]);
    assert_eq!(quality["vision"]["images"], 8, "four photographs, each also mirrored");
    assert_eq!(quality["vision"]["classes"], 10);
    for side in ["float", "quantized"] {
        let r = read_json(&vit.join(format!("bench/{side}.json")));
        assert_eq!(r["workload"]["kind"], "images", "{side}");
        let labels: Vec<&str> = r["benchmarks"].as_array().unwrap().iter().map(|b| b["label"].as_str().unwrap()).collect();
        assert_eq!(labels, ["batch 1", "batch 8"], "{side}");
        assert!(r["benchmarks"][0]["stats"]["median"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(read_json(&vit.join("bench/quantized.json"))["quality_gate"]["passed"], true, "the receipt carries the gate");
    let report = read_json(&vit.join("parity/parity.json"));
    assert_rungs_pass(&report, 2, &["preprocessing", "embeddings", "last_hidden_state", "logits", "edge single"], "vit");
    let pre = rung(&rungs(&report), "preprocessing").clone();
    assert_eq!(pre["max_abs"].as_f64(), Some(0.0), "the package's pixel_values are the processor's, exactly: {pre:#}");
    let oracle = read_json(&vit.join("oracle/manifest.json"));
    let files: Vec<&str> = oracle["inputs"]["images"].as_array().unwrap().iter().map(|i| i["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["coffee.png", "coins.png", "horse.png", "rocket.jpg"], "a folder's images, sorted by name");
    // The shipped package carries its image processor and runs on an image.
    let pkg = vit.join("package");
    assert!(pkg.join("preprocessor_config.json").is_file());
    assert!(pkg.join("vit_mlx/image.py").is_file());
    let manifest = read_json(&pkg.join("mlxport-package.json"));
    assert!(manifest.to_string().contains("own image processor"), "{manifest:#}");

    // DINOv2 with registers on the built-in photographs: positions
    // resampled (antialiased bicubic) to the crop's grid and, at the edge,
    // to a non-square grid.
    let dino = d.join("port-dinov2");
    port(&py_, &d.join("dinov2"), &dino, &[]);
    let report = read_json(&dino.join("parity/parity.json"));
    assert_rungs_pass(&report, 2, &["preprocessing", "embeddings", "last_hidden_state", "logits", "edge single", "edge size"], "dinov2");
    let oracle = read_json(&dino.join("oracle/manifest.json"));
    let images = oracle["inputs"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 6, "the built-in set");
    assert!(images.iter().any(|i| i["file"] == "camera.png") && images.iter().any(|i| i["file"] == "logo.png"), "grayscale and RGBA photographs");

    // CLIP: both towers on the photographs and the user's captions, the
    // image-text logits, 8-bit weights gated on retrieval agreement.
    let clip = d.join("port-clip");
    let captions: [&std::ffi::OsStr; 8] = [
        "--text".as_ref(),
        "t7 t9 t300 t11".as_ref(),
        "--text".as_ref(),
        "t40 t41".as_ref(),
        "-q".as_ref(),
        "--bits".as_ref(),
        "8".as_ref(),
        "--bench-runs=2".as_ref(),
    ];
    port(&py_, &d.join("clip"), &clip, &captions);
    let report = read_json(&clip.join("parity/parity.json"));
    assert_rungs_pass(&report, 4, &["preprocessing", "image_embeds", "text_embeds", "logits", "edge single"], "clip");
    let oracle = read_json(&clip.join("oracle/manifest.json"));
    assert_eq!(oracle["inputs"]["token_ids"], serde_json::json!([[7, 9, 300, 11], [40, 41]]), "the captions through the checkpoint's tokenizer");
    let quality = read_json(&clip.join("quality/quality.json"));
    assert_eq!(quality["verdict"], "pass", "{quality:#}");
    assert_eq!(quality["vision"]["classes"], 12, "retrieval among the gate's captions");

    // A planted bug: the Keys cubic coefficient of PyTorch's non-antialiased
    // kernel (-0.75) is left alone, but the antialiased one (-0.5, PIL's)
    // becomes -0.75. Only the resampled positions change: the embedding
    // rung is the first to diverge, and the blocks fed the source's inputs
    // (isolated) still pass.
    let bad = d.join("bad");
    copy_dir(&dino.join("scaffold"), &bad.join("dinov2_mlx"));
    let layers = bad.join("dinov2_mlx/layers.py");
    let text = std::fs::read_to_string(&layers).unwrap();
    assert!(text.contains("np.arange(lo, hi) - center + 0.5) * inv, -0.5)"), "the antialiased kernel's call");
    std::fs::write(&layers, text.replace("np.arange(lo, hi) - center + 0.5) * inv, -0.5)", "np.arange(lo, hi) - center + 0.5) * inv, -0.75)")).unwrap();
    let input = d.join("oracle-in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(dino.join("oracle/oracle.npz"), input.join("oracle.npz")).unwrap();
    std::fs::copy(dino.join("oracle/manifest.json"), input.join("oracle.manifest.json")).unwrap();
    let (code, report) = parity(
        &py_,
        &d.join("parity-bad"),
        &[
            "--source".as_ref(),
            d.join("dinov2").as_os_str(),
            "--target".as_ref(),
            "scaffold".as_ref(),
            "--package".as_ref(),
            bad.join("dinov2_mlx").as_os_str(),
            "--weights".as_ref(),
            dino.join("weights").as_os_str(),
            "--oracle".as_ref(),
            input.join("oracle.npz").as_os_str(),
            "--all".as_ref(),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(first_failed(&report).as_deref(), Some("embeddings"), "{:#}", report["first_divergence"]);
    let rs = rungs(&report);
    assert_eq!(rung(&rs, "preprocessing")["status"], "pass");
    assert_eq!(rung(&rs, "isolated layer 0")["status"], "pass", "the blocks themselves are right");
}

/// A candidate whose classifier rows are rotated by one class: the same
/// image features, other class predictions.
const ROTATE_CLASSES: &str = r#"
import sys, shutil, numpy as np
from safetensors.numpy import load_file, save_file
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst)
w = load_file(src + "/model.safetensors")
w["classifier.weight"] = np.roll(w["classifier.weight"], 1, axis=0)
w["classifier.bias"] = np.roll(w["classifier.bias"], 1, axis=0)
save_file(w, dst + "/model.safetensors", metadata={"format": "mlx"})
"#;

/// The image gate fails a candidate that classifies differently, though
/// its features are the reference's, and says which check failed; the
/// optimization loop gates its candidates the same way.
#[test]
fn image_gate_fails_other_class_predictions() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let vit = d.join("port-vit");
    port(&py_, &d.join("vit"), &vit, &[]);
    let broken = d.join("broken");
    py(&py_, ROTATE_CLASSES, &[vit.join("weights").to_str().unwrap(), broken.to_str().unwrap()]);
    let out = d.join("quality.json");
    let o = run(
        bin!()
            .arg("quality")
            .arg("--reference")
            .arg(vit.join("weights"))
            .arg("--candidate")
            .arg(&broken)
            .arg("--package")
            .arg(vit.join("scaffold"))
            .arg("-o")
            .arg(&out),
        &py_,
    );
    assert_eq!(o.status.code(), Some(1), "the gate fails");
    let r = read_json(&out);
    assert_eq!(r["verdict"], "fail");
    let check = |n: &str| r["checks"].as_array().unwrap().iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(check("top1")["pass"], false, "{r:#}");
    assert_eq!(check("cosine_min")["pass"], true, "the features are unchanged");
    assert!(r["reasons"][0].as_str().unwrap().starts_with("top1 = "), "{r:#}");
    assert_eq!(r["vision"]["images"], 2 * r["run"]["files"].as_array().unwrap().len(), "every photograph, as read and mirrored");

    // The same port optimized: candidates gated on images, the chosen one shipped.
    let opt: [&std::ffi::OsStr; 3] = ["--optimize".as_ref(), "--optimize-candidates".as_ref(), "q8g64,bf16".as_ref()];
    port(&py_, &d.join("vit"), &vit, &opt);
    let doc = read_json(&vit.join("optimize/optimize.json"));
    assert_eq!(doc["model"]["kind"], "vision", "{doc:#}");
    let q8 = doc["records"].as_array().unwrap().iter().find(|r| r["id"] == "q8g64").unwrap();
    assert_eq!(q8["correctness"]["quality_verdict"], "pass");
    assert!(q8["quality"]["top1_agreement"].as_f64().is_some() && q8["quality"]["cosine_min"].as_f64().is_some(), "{q8:#}");
    assert!(std::fs::read_to_string(vit.join("optimize/OPTIMIZATIONS.md")).unwrap().contains("| top-1 | top-5 |"));
}

/// The package's image reader and processor against transformers' image
/// processors (their PIL path) on every real photograph scikit-image ships
/// (RGB, grayscale and RGBA; PNG and JPEG; 191 to 1411 pixels a side), for
/// fixed-size, shortest-edge + centre-crop, CLIP, padded-crop, ConvNeXt
/// (crop_pct below 384, a warp from 384) and SigLIP settings: equal to the
/// bit.
const PREPROCESS: &str = r#"
import importlib.util, os, sys, warnings
import numpy as np, skimage, transformers as T
warnings.filterwarnings("ignore")
T.logging.set_verbosity_error()
spec = importlib.util.spec_from_file_location("image", sys.argv[1])
image = importlib.util.module_from_spec(spec); spec.loader.exec_module(image)
d = os.path.join(os.path.dirname(skimage.__file__), "data")
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".png", ".jpg")))
imnet = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
processors = [
    T.ViTImageProcessor(size={"height": 224, "width": 224}),
    T.ViTImageProcessor(size={"height": 96, "width": 160}, resample=3, **imnet),
    T.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=3, **imnet),
    T.CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224),
    T.BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 80, "width": 48}, resample=1),
    T.ConvNextImageProcessor(size={"shortest_edge": 224}),
    T.ConvNextImageProcessor(size={"shortest_edge": 384}),
    T.SiglipImageProcessor(size={"height": 64, "width": 64}),
]
modes, checked = set(), 0
for k, hp in enumerate(processors):
    where = os.path.join(sys.argv[2], str(k))
    hp.save_pretrained(where)
    ours = image.ImageProcessor.from_dir(where)
    for f in files:
        from PIL import Image
        modes.add(Image.open(f).mode)
        im = image.load_image(f)
        a = ours([im])
        b = hp(images=[im], return_tensors="np")["pixel_values"]
        assert a.dtype == b.dtype == np.float32, (a.dtype, b.dtype)
        assert a.shape == b.shape and np.array_equal(a, b), (type(hp).__name__, f, a.shape, b.shape, float(np.abs(a - b).max()))
        checked += 1
# Settings the processor does not implement are refused by name.
for bad, word in (({"do_pad": True}, "do_pad"), ({"shear": 0.1}, "shear"), ({"data_format": "channels_last"}, "data_format"), ({"image_processor_type": "DPTImageProcessor"}, "DPTImageProcessor")):
    cfg = {"image_processor_type": "ViTImageProcessor", "size": {"height": 8, "width": 8}, **bad}
    try:
        image.ImageProcessor(cfg)
        raise SystemExit(f"accepted {bad}")
    except ValueError as e:
        assert word in str(e), (word, str(e))
print(checked, len(files), ",".join(sorted(modes)))
"#;

#[test]
fn preprocessing_equals_transformers_on_real_photographs() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let image_py = workspace_root().join("python/templates/vision/image.py");
    let out = py(&py_, PREPROCESS, &[image_py.to_str().unwrap(), tmp.path().to_str().unwrap()]);
    let parts: Vec<&str> = out.split_whitespace().collect();
    let (checked, files): (usize, usize) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
    assert!(files >= 10, "scikit-image's photographs: {out}");
    assert_eq!(checked, 8 * files);
    for mode in ["L", "RGB", "RGBA"] {
        assert!(parts[2].split(',').any(|m| m == mode), "a {mode} photograph among them: {out}");
    }
}

/// Hostile and odd files through the package's reader: each is refused
/// naming the file and the rule, or converted the documented way; the
/// decompression bomb is refused from its header, with memory untouched.
const HOSTILE: &str = r#"
import io, os, resource, struct, sys, zlib, importlib.util
import numpy as np
from PIL import Image
spec = importlib.util.spec_from_file_location("image", sys.argv[1])
image = importlib.util.module_from_spec(spec); spec.loader.exec_module(image)
d = sys.argv[2]
def path(n): return os.path.join(d, n)
rgb = (np.arange(40 * 30 * 3) % 256).astype(np.uint8).reshape(30, 40, 3)
Image.fromarray(rgb).save(path("ok.png")); Image.fromarray(rgb).save(path("ok.jpg"), quality=95)
for src, dst in (("ok.png", "truncated.png"), ("ok.jpg", "truncated.jpg")):
    b = open(path(src), "rb").read(); open(path(dst), "wb").write(b[: len(b) // 2])
open(path("empty.png"), "wb").close()
open(path("text.png"), "w").write("not an image")
def chunk(t, data): return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")
open(path("bomb.png"), "wb").write(bomb)
flat = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
open(path("zero-width.png"), "wb").write(flat)
Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(path("gray16.png"))
Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(path("cmyk.jpg"))
p = Image.new("P", (6, 6), 1); p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762); p.info["transparency"] = 1; p.save(path("palette.png"), transparency=1)
exif = Image.Exif(); exif[0x0112] = 6
Image.fromarray(rgb).save(path("rotated.jpg"), exif=exif.tobytes())
Image.fromarray(np.zeros((4, 4), np.float32), mode="F").save(path("float.tif"))
frames = [Image.new("RGB", (5, 5), c) for c in ((255, 0, 0), (0, 0, 255))]
frames[0].save(path("anim.gif"), save_all=True, append_images=frames[1:])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name in ("truncated.png", "truncated.jpg", "empty.png", "text.png", "bomb.png", "zero-width.png", "float.tif", "missing.png"):
    try:
        image.load_image(path(name))
        print("ACCEPTED", name)
    except image.ImageError as e:
        assert path(name) in str(e), e
        print("refused", name, "|", str(e).split(": ", 1)[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("rss_growth_kib", after - before)
g = image.load_image(path("gray16.png")); print("gray16", g.mode, np.array(g)[0, 0].tolist())
c = image.load_image(path("cmyk.jpg")); print("cmyk", c.mode, c.size)
t = image.load_image(path("palette.png")); print("palette", t.mode, np.array(t)[0, 0].tolist())
r = image.load_image(path("rotated.jpg")); print("rotated", r.size)
a = image.load_image(path("anim.gif")); print("anim", np.array(a)[0, 0].tolist())
"#;

#[test]
fn hostile_images_are_refused_or_converted_as_documented() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let image_py = workspace_root().join("python/templates/vision/image.py");
    let out = py(&py_, HOSTILE, &[image_py.to_str().unwrap(), tmp.path().to_str().unwrap()]);
    let line = |key: &str| out.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no '{key}' in:\n{out}")).to_string();
    assert!(!out.contains("ACCEPTED"), "{out}");
    assert!(line("refused truncated.png").contains("truncated or corrupt"), "{out}");
    assert!(line("refused truncated.jpg").contains("truncated or corrupt"), "{out}");
    assert!(line("refused empty.png").contains("empty"), "{out}");
    assert!(line("refused text.png").contains("not an image Pillow can read"), "{out}");
    assert!(line("refused bomb.png").contains("100000x100000") && line("refused bomb.png").contains("limit"), "{out}");
    let zero = line("refused zero-width.png");
    assert!(zero.contains("a side is zero") || zero.contains("invalid header"), "{out}");
    assert!(line("refused float.tif").contains("no agreed 8-bit scale"), "{out}");
    assert!(line("refused missing.png").contains("cannot read the file"), "{out}");
    let growth: i64 = line("rss_growth_kib").split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(growth < 64 * 1024, "the bomb was refused before decoding: resident memory grew {growth} KiB");
    assert_eq!(line("gray16"), "gray16 RGB [156, 156, 156]", "16-bit keeps its high byte: 40000 // 256 = 156");
    assert_eq!(line("cmyk"), "cmyk RGB (8, 6)");
    assert_eq!(line("palette"), "palette RGB [255, 255, 255]", "the transparent colour over white");
    assert_eq!(line("rotated"), "rotated (30, 40)", "EXIF orientation 6 applied: 40x30 becomes 30x40");
    assert_eq!(line("anim"), "anim [255, 0, 0]", "the first frame");
}

/// The oracle itself on a hostile image: a clear error naming the file, no
/// traceback, nothing written.
#[test]
fn oracle_names_a_broken_image() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    py(&py_, BUILD, &[d.to_str().unwrap(), workspace_root().join("python/harness").to_str().unwrap()]);
    let bad = d.join("broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let o = run(bin!().arg("oracle").arg(d.join("vit")).arg("--image").arg(&bad).arg("-o").arg(d.join("o.npz")), &py_);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.jpg") && !err.contains("Traceback"), "{err}");
    assert!(!d.join("o.npz").exists());
}

/// An image model type the vision template does not implement (Swin's
/// shifted windows): the plan says so, naming the feature, and the port
/// stops there before any model runs.
#[test]
fn unsupported_image_types_stop_at_the_plan_naming_the_feature() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let code = r#"
import sys, torch, transformers as T
torch.manual_seed(0)
c = T.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=2, num_labels=3)
T.SwinForImageClassification(c).save_pretrained(sys.argv[1])
T.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(sys.argv[1])
"#;
    let m = d.join("swin");
    py(&py_, code, &[m.to_str().unwrap()]);
    let out = d.join("port");
    let o = run(bin!().arg("port").arg(&m).arg("--out").arg(&out).arg("--accept-license"), &py_);
    assert_eq!(o.status.code(), Some(1));
    let p = read_json(&out.join("port.json"));
    assert_eq!(p["stopped_at"], "plan", "{p:#}");
    let why = p["remediation"].to_string();
    assert!(why.contains("shifted-window attention") && why.contains("model_type 'swin'"), "{why}");
    assert!(!out.join("oracle").exists(), "no model ran");
}
