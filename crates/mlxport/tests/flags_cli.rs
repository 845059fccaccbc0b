//! One meaning per flag: `--out`/`-o`, `--target`, `--dtype` and
//! `--compute-dtype` across commands, and the previous release's spellings
//! still accepted for one release with a deprecation note.

use std::process::Output;

use mlxport_testkit::{bin, describe, tempdir, write_zero_safetensors};

fn run(args: &[&str]) -> Output {
    bin!().args(args).output().expect("run mlxport")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tiny model directory `inspect` can read (no Python needed).
fn model(dir: &std::path::Path) -> String {
    let m = dir.join("model");
    std::fs::create_dir_all(&m).unwrap();
    write_zero_safetensors(&m.join("model.safetensors"), &[("model.embed_tokens.weight", vec![8, 4])]);
    std::fs::write(m.join("config.json"), r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#).unwrap();
    m.to_string_lossy().into_owned()
}

#[test]
fn out_is_one_flag_and_the_old_spelling_still_works_with_a_note() {
    let d = tempdir();
    let m = model(d.path());
    let (a, b, c) = (d.path().join("a.json"), d.path().join("b.json"), d.path().join("c.json"));
    let o = run(&["inspect", &m, "--no-cache", "--out", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(!stderr(&o).contains("deprecated"), "{}", describe(&o));
    let o = run(&["inspect", &m, "--no-cache", "-o", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", describe(&o));
    let o = run(&["inspect", &m, "--no-cache", "--output", c.to_str().unwrap()]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stderr(&o).contains("warning: --output is deprecated and goes away in the next release: use --out"), "{}", describe(&o));
    let read = |p: &std::path::Path| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(read(&a)["model"]["fingerprint"], read(&c)["model"]["fingerprint"]);
    assert_eq!(read(&b)["model"]["fingerprint"], read(&c)["model"]["fingerprint"]);
}

#[test]
fn parity_target_names_the_implementation() {
    let d = tempdir();
    let missing = d.path().join("missing");
    let m = missing.to_str().unwrap();
    // --target scaffold needs the package.
    let o = run(&["parity", "--source", m, "--target", "scaffold", "--weights", m, "--text", "hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stderr(&o).contains("--target scaffold needs --package PKG"), "{}", describe(&o));
    // --package goes with scaffold only.
    let o = run(&["parity", "--source", m, "--target", "mlx-lm", "--package", m, "--weights", m, "--text", "hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stderr(&o).contains("--package goes with --target scaffold"), "{}", describe(&o));
    // The previous release's `--target PKG` is read as the package, with a
    // note; the run then stops on the missing source, naming it.
    let o = run(&["parity", "--source", m, "--target", m, "--weights", m, "--text", "hi", "--dtype", "float32"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let e = stderr(&o);
    assert!(e.contains(&format!("warning: --target PKG is deprecated and goes away in the next release: use --target scaffold --package {m}")), "{e}");
    assert!(e.contains("warning: --dtype is deprecated and goes away in the next release: use --compute-dtype"), "{e}");
    assert!(e.contains(&format!("--source {m}: no such file or directory")), "{e}");
}

#[test]
fn renamed_flags_parse_under_both_spellings() {
    // Each old spelling parses (clap accepts it) and the new one too: a
    // missing model stops both at the same place, after parsing.
    let d = tempdir();
    let m = d.path().join("missing");
    let m = m.to_str().unwrap();
    for (new, old) in [
        (vec!["optimize", m, "--out", "w"], vec!["optimize", m, "--work-dir", "w"]),
        (vec!["map", "validate", "--source", m, "--map", m, "--converted", m], vec!["map", "validate", "--source", m, "--map", m, "--target", m]),
        (vec!["oracle", m, "--text", "hi", "--compute-dtype", "float32"], vec!["oracle", m, "--text", "hi", "--dtype", "float32"]),
    ] {
        let (a, b) = (run(&new), run(&old));
        assert_ne!(a.status.code(), Some(0));
        assert_eq!(a.status.code(), b.status.code(), "{new:?}: {}\n{old:?}: {}", describe(&a), describe(&b));
        assert!(!stderr(&a).contains("deprecated"), "{}", describe(&a));
        assert!(stderr(&b).contains("is deprecated and goes away in the next release"), "{}", describe(&b));
    }
}
