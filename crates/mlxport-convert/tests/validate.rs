//! Map validation: every failure the issue lists is caught with its code,
//! and a clean draft validates. Synthetic checkpoints, no Python.

mod common;

use common::*;
use mlxport_convert::draft::{draft, DraftOptions};
use mlxport_convert::map::Category;
use mlxport_convert::plan::{check_target, plan, DtypePolicy, Plan};
use mlxport_convert::WeightMap;
use mlxport_tensor::{DType, TensorSource};

fn map_json(rules: serde_json::Value) -> WeightMap {
    let v = serde_json::json!({"schema": "mlxport.weight_map/v1", "target": {"layout": "scaffold"}, "rules": rules});
    WeightMap::from_json(&v.to_string(), "<test>".as_ref()).unwrap()
}

fn codes(p: &Plan) -> Vec<&'static str> {
    p.issues.iter().filter(|i| i.severity == mlxport_convert::plan::Severity::Error).map(|i| i.code).collect()
}

fn source(tensors: &[T]) -> (tempfile::TempDir, Box<dyn TensorSource>) {
    let d = tempdir();
    write_st(&d.path().join("model.safetensors"), tensors);
    let s = mlxport_tensor::open(d.path()).unwrap();
    (d, s)
}

#[test]
fn draft_of_a_tied_llama_validates_with_categorized_tensors() {
    let d = tempdir();
    tiny_llama(d.path(), true);
    let src = mlxport_tensor::open(d.path()).unwrap();
    let config = serde_json::from_str(&std::fs::read_to_string(d.path().join("config.json")).unwrap()).unwrap();
    let dr = draft(src.as_ref(), &DraftOptions { config: Some(config), ..Default::default() }).unwrap();
    assert_eq!(dr.family, "dense-decoder");
    assert_eq!(dr.target, "mlx-lm");
    assert!(dr.routed);
    // A few pattern rules, not one per tensor.
    assert!(dr.map.rules.len() <= 12, "{} rules", dr.map.rules.len());
    assert!(dr.map.rules.iter().any(|r| r.source.to_vec() == ["model.layers.{i}.self_attn.q_proj.weight"]));
    let p = plan(&dr.map, src.tensors(), None);
    assert_eq!(p.errors(), 0, "{:#?}", p.issues);
    let cats: Vec<(&str, Category)> = p.categorized.iter().map(|c| (c.source.as_str(), c.category)).collect();
    assert!(cats.contains(&("lm_head.weight", Category::Shared)), "{cats:?}");
    assert!(cats.contains(&("model.layers.0.self_attn.rotary_emb.inv_freq", Category::Generated)));
    assert_eq!(p.targets().len(), src.tensors().len() - 3);
    // The map survives its own JSON.
    let again = WeightMap::from_json(&dr.map.to_json(), "<m>".as_ref()).unwrap();
    assert_eq!(again, dr.map);
}

#[test]
fn missing_source_tensor() {
    let (_d, src) = source(&[t("a.weight", &[2, 2])]);
    let m = map_json(serde_json::json!([
        {"source": "a.weight", "target": "a.weight"},
        {"source": "b.weight", "target": "b.weight"}
    ]));
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["missing_source"], "{:#?}", p.issues);
    // Per layer: q present in layer 0 and 1, k only in layer 0, concat of
    // both -> layer 1 misses k.
    let (_d, src) = source(&[t("l.0.q", &[2, 2]), t("l.0.k", &[2, 2]), t("l.1.q", &[2, 2])]);
    let m = map_json(serde_json::json!([{"source": ["l.{i}.q", "l.{i}.k"], "target": "l.{i}.qk", "transforms": [{"op": "concat", "axis": 0}]}]));
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["missing_source"], "{:#?}", p.issues);
    assert_eq!(p.issues[0].source.as_deref(), Some("l.1.k"));
}

#[test]
fn extra_source_tensor_and_target_mismatches() {
    let (_d, src) = source(&[t("a.weight", &[2, 3]), t("stray.weight", &[4])]);
    let m = map_json(serde_json::json!([{"source": "a.weight", "target": "a.weight"}]));
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["unmapped_source"]);
    assert_eq!(p.issues[0].source.as_deref(), Some("stray.weight"));
    // Categorizing it fixes that.
    let mut m2 = m.clone();
    m2.unmapped.push(mlxport_convert::map::Unmapped {
        source: "stray.weight".into(),
        category: Category::Ignored,
        reason: "training only".into(),
        shared_with: None,
    });
    assert_eq!(plan(&m2, src.tensors(), None).errors(), 0);
    // Against a target: one it lacks (extra), one it has that we do not
    // make (missing).
    let (_t, target) = source(&[t("other.weight", &[2, 3])]);
    let mut p = plan(&m2, src.tensors(), None);
    check_target(&mut p, target.tensors());
    let mut c = codes(&p);
    c.sort();
    assert_eq!(c, ["extra_target", "missing_target"]);
}

#[test]
fn shape_mismatch_after_a_transform() {
    let (_d, src) = source(&[t("conv.weight", &[4, 3, 5])]);
    // PyTorch conv [out, in, k] -> MLX [out, k, in] is [4, 5, 3]; the map
    // declares the wrong result.
    let m = map_json(
        serde_json::json!([{"source": "conv.weight", "target": "conv.weight", "target_shapes": [[4, 3, 5]], "transforms": [{"op": "transpose", "perm": [0, 2, 1]}]}]),
    );
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["shape_mismatch"]);
    assert!(p.issues[0].message.contains("[4, 5, 3]"), "{}", p.issues[0].message);
    // Declared right: clean; a bad reshape: a transform error naming the step.
    let m = map_json(
        serde_json::json!([{"source": "conv.weight", "target": "conv.weight", "target_shapes": [[4, 5, 3]], "transforms": [{"op": "transpose", "perm": [0, 2, 1]}]}]),
    );
    assert_eq!(plan(&m, src.tensors(), None).errors(), 0);
    let m = map_json(
        serde_json::json!([{"source": "conv.weight", "target": "conv.weight", "transforms": [{"op": "transpose", "perm": [0, 2, 1]}, {"op": "reshape", "shape": [7, -1]}]}]),
    );
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["transform_error"]);
    assert!(p.issues[0].message.contains("step 2"), "{}", p.issues[0].message);
    // Source shape declared and wrong.
    let m = map_json(serde_json::json!([{"source": "conv.weight", "target": "conv.weight", "source_shapes": [[4, 3, 6]]}]));
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["shape_mismatch"]);
}

#[test]
fn double_mapped_target_and_source() {
    let (_d, src) = source(&[t("a", &[2]), t("b", &[2])]);
    let m = map_json(serde_json::json!([{"source": "a", "target": "x"}, {"source": "b", "target": "x"}]));
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["double_mapped_target"]);
    assert_eq!(p.issues[0].target.as_deref(), Some("x"));
    // A tie onto a produced name is a double too.
    let mut m = map_json(serde_json::json!([{"source": "a", "target": "x"}, {"source": "b", "target": "y"}]));
    m.ties.push(mlxport_convert::map::Tie { target: "y".into(), from: "x".into(), reason: None });
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["double_mapped_target"]);
    // One source claimed by two rules.
    let m = map_json(serde_json::json!([{"source": "layer.3", "target": "x"}, {"source": "layer.{i}", "target": "y.{i}"}]));
    let (_d2, src2) = source(&[t("layer.3", &[2])]);
    let p = plan(&m, src2.tensors(), None);
    assert_eq!(codes(&p)[0], "double_mapped_source", "{:#?}", p.issues);
}

#[test]
fn wrong_split() {
    let (_d, src) = source(&[t("qkv.weight", &[12, 4])]);
    // Sizes that do not add up to the axis.
    let m = map_json(serde_json::json!([{"source": "qkv.weight", "target": ["q", "k", "v"], "transforms": [{"op": "split", "axis": 0, "sizes": [4, 4, 5]}]}]));
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["transform_error"]);
    assert!(p.issues[0].message.contains("add up to 13"), "{}", p.issues[0].message);
    // Sizes that add up but differ from the declared shapes (8 query rows).
    let m = map_json(
        serde_json::json!([{"source": "qkv.weight", "target": ["q", "k", "v"], "target_shapes": [[8, 4], [2, 4], [2, 4]], "transforms": [{"op": "split", "axis": 0, "sizes": [4, 4, 4]}]}]),
    );
    let p = plan(&m, src.tensors(), None);
    assert_eq!(codes(&p), ["shape_mismatch"; 3]);
    // Three parts for two names.
    let m = map_json(serde_json::json!([{"source": "qkv.weight", "target": ["q", "kv"], "transforms": [{"op": "split", "axis": 0, "sizes": [4, 4, 4]}]}]));
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["arity"]);
}

#[test]
fn dtype_conflicts() {
    let mut half = t("h", &[2, 2]);
    half.dtype = DType::F16;
    half.data.truncate(8);
    let mut ints = t("i", &[4]);
    ints.dtype = DType::I32;
    let (_d, src) = source(&[t("f", &[2, 2]), half, ints]);
    // Declared source dtype differs.
    let m =
        map_json(serde_json::json!([{"source": "f", "target": "f", "source_dtype": "F16"}, {"source": "h", "target": "h"}, {"source": "i", "target": "i"}]));
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["dtype_conflict"]);
    // Concatenating F32 with F16.
    let m = map_json(serde_json::json!([{"source": ["f", "h"], "target": "fh", "transforms": [{"op": "concat", "axis": 0}]}, {"source": "i", "target": "i"}]));
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["dtype_conflict"]);
    // Casting an integer tensor; pinning an integer tensor to a float.
    let m = map_json(
        serde_json::json!([{"source": "f", "target": "f"}, {"source": "h", "target": "h"}, {"source": "i", "target": "i", "transforms": [{"op": "cast", "dtype": "BF16"}]}]),
    );
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["dtype_conflict"]);
    let m =
        map_json(serde_json::json!([{"source": "f", "target": "f"}, {"source": "h", "target": "h"}, {"source": "i", "target": "i", "target_dtype": "F16"}]));
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["dtype_conflict"]);
    // The policy casts floats only; a pinned dtype wins over it.
    let m =
        map_json(serde_json::json!([{"source": "f", "target": "f", "target_dtype": "F32"}, {"source": "h", "target": "h"}, {"source": "i", "target": "i"}]));
    let p = plan(&m, src.tensors(), Some(DtypePolicy::To(DType::BF16)));
    assert_eq!(p.errors(), 0);
    let dt: Vec<(String, DType)> = p.targets().into_iter().map(|t| (t.name, t.dtype)).collect();
    assert_eq!(dt, [("f".to_string(), DType::F32), ("h".into(), DType::BF16), ("i".into(), DType::I32)]);
    // Against a target written in another dtype.
    let (_t, target) = source(&[t("f", &[2, 2]), t("h", &[2, 2]), t("i", &[4])]);
    let mut p = plan(&m, src.tensors(), Some(DtypePolicy::To(DType::BF16)));
    check_target(&mut p, target.tensors());
    assert_eq!(codes(&p), ["dtype_conflict", "dtype_conflict"]);
    // A policy that is no float dtype.
    let mut m2 = m.clone();
    m2.dtype = "int8".into();
    assert_eq!(codes(&plan(&m2, src.tensors(), None)), ["dtype_conflict"]);
}

#[test]
fn experts_gather_in_index_order_and_gaps_are_errors() {
    let mut ts = Vec::new();
    for e in [0, 1, 2] {
        ts.push(t(&format!("model.layers.0.mlp.experts.{e}.gate_proj.weight"), &[6, 4]));
    }
    let (_d, src) = source(&ts);
    let m = map_json(
        serde_json::json!([{"source": "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "target": "model.layers.{i}.mlp.switch_mlp.gate_proj.weight", "transforms": [{"op": "stack", "axis": 0}]}]),
    );
    let p = plan(&m, src.tensors(), None);
    assert_eq!(p.errors(), 0);
    assert_eq!(p.jobs[0].shapes, [vec![3, 6, 4]]);
    assert_eq!(p.jobs[0].inputs[2], "model.layers.0.mlp.experts.2.gate_proj.weight");
    let (_d, src) = source(&[ts.remove(0), ts.remove(1)]);
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["gather_gap"]);
}

#[test]
fn unresolved_and_unsupported_block_a_map() {
    let (_d, src) = source(&[t("a", &[2]), t("b", &[2])]);
    let mut m = map_json(serde_json::json!([{"source": "a", "target": "a"}]));
    m.unresolved.push(mlxport_convert::map::Unresolved { source: "b".into(), shape: None, dtype: None, reason: "unknown".into() });
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["unresolved"]);
    m.unresolved.clear();
    m.unmapped.push(mlxport_convert::map::Unmapped { source: "b".into(), category: Category::Unsupported, reason: "complex".into(), shared_with: None });
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["unsupported"]);
    m.unmapped[0] = mlxport_convert::map::Unmapped { source: "b".into(), category: Category::Shared, reason: "tied".into(), shared_with: Some("nope".into()) };
    assert_eq!(codes(&plan(&m, src.tensors(), None)), ["missing_source"]);
}

#[test]
fn maps_are_refused_when_malformed() {
    let bad = r#"{"schema": "mlxport.weight_map/v9", "rules": []}"#;
    assert!(WeightMap::from_json(bad, "<m>".as_ref()).unwrap_err().to_string().contains("v9"));
    let bad = r#"{"schema": "mlxport.weight_map/v1", "rules": [{"source": "a", "target": "b", "transforms": [{"op": "rotate"}]}]}"#;
    assert!(WeightMap::from_json(bad, "<m>".as_ref()).is_err());
    let bad = r#"{"schema": "mlxport.weight_map/v1", "rules": [], "extra": 1}"#;
    assert!(WeightMap::from_json(bad, "<m>".as_ref()).is_err());
    // Target placeholders no source binds, in two target patterns.
    let (_d, src) = source(&[t("a", &[2])]);
    let m = map_json(serde_json::json!([{"source": "a", "target": ["x.{i}", "y.{i}"]}]));
    assert!(codes(&plan(&m, src.tensors(), None)).contains(&"bad_map"));
}

#[test]
fn parameters_of_the_target_implementation_are_checked_name_by_name() {
    use mlxport_convert::plan::{check_parameters, TargetParameters};
    let (_d, src) = source(&[t("a.weight", &[4, 2]), t("b.weight", &[3])]);
    let m = map_json(serde_json::json!([{"source": "a.weight", "target": "model.a.weight"}, {"source": "b.weight", "target": "model.bb.weight"}]));
    let shapes = |v: &[(&str, &[u64])]| v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
    // What the implementation loads (after its renames) against its
    // parameters: one name it lacks, one it does not fill, one shape off.
    let t = TargetParameters {
        implementation: "mlx-lm".into(),
        parameters: shapes(&[("model.a.weight", &[2, 4]), ("model.b.weight", &[3])]),
        loaded: shapes(&[("model.a.weight", &[4, 2]), ("model.bb.weight", &[3])]),
        error: None,
    };
    let mut p = plan(&m, src.tensors(), None);
    assert_eq!(p.errors(), 0);
    check_parameters(&mut p, &t);
    assert_eq!(codes(&p), ["parameter_shape", "missing_parameter", "unexpected_weight"]);
    let msgs: Vec<&str> = p.issues.iter().map(|i| i.message.as_str()).collect();
    assert!(msgs[0].contains("'model.a.weight' is [2, 4]") && msgs[0].contains("[4, 2]"), "{msgs:?}");
    assert!(msgs[1].contains("'model.b.weight'") && msgs[2].contains("'model.bb.weight'"), "{msgs:?}");
    // A model the implementation cannot build is one error, with the reason.
    let mut p = plan(&m, src.tensors(), None);
    check_parameters(&mut p, &TargetParameters { implementation: "mlx-lm".into(), error: Some("TypeError: missing 'n_ctx'".into()), ..Default::default() });
    assert_eq!(codes(&p), ["target_build"]);
    assert!(p.issues[0].message.contains("n_ctx"));
    // Everything in place: no issue.
    let same = TargetParameters { implementation: "scaffold".into(), parameters: t.loaded.clone(), loaded: t.loaded.clone(), error: None };
    let mut p = plan(&m, src.tensors(), None);
    check_parameters(&mut p, &same);
    assert_eq!(p.errors(), 0);
}
