"""The static rungs of a parity run: the configuration each side reads, and
the weights the MLX side loads.

Run by ``mlxport parity`` (embedded in the binary); not meant to be run by
hand. Nothing here runs a forward pass:

* ``source_config``: the values transformers reads from the source's
  config (``AutoConfig``, no remote code), normalized to one set of keys;
* ``target_config``: the values the MLX side reads — mlx-lm's own
  ``ModelArgs.from_dict`` for ``--mlx-lm``, the package's ``ModelArgs`` as
  its ``load`` builds them for ``--package`` — under the same keys;
* ``weights``: the model's parameters (name, shape, dtype) and the tensors
  its loader hands to ``load_weights`` (after any ``sanitize``), recorded
  by intercepting ``load_weights`` so that nothing is actually loaded.

Writes one JSON file (``--out``).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402

# The keys compared by the config rung, and the attribute names each side
# may use for them.
KEYS = {
    "vocab_size": ("vocab_size",),
    "hidden_size": ("hidden_size",),
    "num_hidden_layers": ("num_hidden_layers",),
    "num_attention_heads": ("num_attention_heads",),
    "num_key_value_heads": ("num_key_value_heads",),
    "head_dim": ("head_dim",),
    "intermediate_size": ("intermediate_size",),
    "rms_norm_eps": ("rms_norm_eps",),
    "layer_norm_eps": ("layer_norm_eps",),
    "tie_word_embeddings": ("tie_word_embeddings",),
    "max_position_embeddings": ("max_position_embeddings",),
    "type_vocab_size": ("type_vocab_size",),
    "hidden_act": ("hidden_act",),
    # Mixture of experts.
    "num_experts": ("num_experts", "num_local_experts"),
    "num_experts_per_tok": ("num_experts_per_tok",),
    "moe_intermediate_size": ("moe_intermediate_size",),
    "shared_expert_intermediate_size": ("shared_expert_intermediate_size",),
    "norm_topk_prob": ("norm_topk_prob",),

    "local_attention": ("local_attention",),
}


class Intercepted(Exception):
    pass


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="model directory, or a .gguf file")
    ap.add_argument("--package")
    ap.add_argument("--weights")
    ap.add_argument("--mlx-lm", dest="mlx_lm")
    ap.add_argument("--mlx-vlm", dest="mlx_vlm")
    ap.add_argument("--planned", help="JSON {name: [shape, dtype]}: the weights a map would write, loaded as lazy zeros instead of reading files")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def plain(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return str(v)


def rope_of(theta, scaling):
    """(rope_theta, rope_type, rope_factor) from a base and a scaling dict."""
    scaling = scaling or {}
    rtype = scaling.get("rope_type") or scaling.get("type") or "default"
    factor = scaling.get("factor") if rtype != "default" else None
    return theta, rtype, factor


def effective(obj, get):
    out = {}
    for key, names in KEYS.items():
        for n in names:
            v = get(obj, n)
            if v is not None:
                out[key] = plain(v)
                break
    return out


def source_config(path):
    from transformers import AutoConfig

    kw = {"trust_remote_code": False}
    if os.path.isfile(path) and path.endswith(".gguf"):
        load_dir, kw["gguf_file"] = os.path.dirname(path), os.path.basename(path)
    else:
        load_dir = path
    cfg = AutoConfig.from_pretrained(load_dir, **kw)
    if getattr(cfg, "text_config", None) is not None and getattr(cfg, "vision_config", None) is not None and cfg.model_type in TWO_TOWERS:
        return towers(cfg, lambda c, n: getattr(c, n, None)), cfg.model_type
    cfg = getattr(cfg, "text_config", None) or cfg
    out = effective(cfg, lambda o, n: getattr(o, n, None))
    if "head_dim" not in out and out.get("hidden_size") and out.get("num_attention_heads"):
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
    if getattr(cfg, "model_type", "") in ("bert", "roberta", "xlm-roberta", "camembert", "distilbert"):
        out.pop("num_key_value_heads", None)
    else:
        params = getattr(cfg, "rope_parameters", None)
        if isinstance(params, dict) and "rope_theta" in params:
            theta, scaling = params.get("rope_theta"), params
        else:
            theta, scaling = getattr(cfg, "rope_theta", None), getattr(cfg, "rope_scaling", None)
        theta, rtype, factor = rope_of(theta, scaling)
        if theta is not None:
            out["rope_theta"] = float(theta)
            out["rope_type"] = rtype
            if factor is not None:
                out["rope_factor"] = float(factor)
        if out.get("num_key_value_heads") is None and out.get("num_attention_heads"):
            out["num_key_value_heads"] = out["num_attention_heads"]
    params = getattr(cfg, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" not in params:
        # A RoPE base per attention kind (modernbert: global and local).
        for kind, p in params.items():
            if isinstance(p, dict) and p.get("rope_theta") is not None:
                out[f"rope_theta.{kind}"] = float(p["rope_theta"])
        if getattr(cfg, "layer_types", None) is not None:
            out["layer_types"] = plain(cfg.layer_types)
    return out, getattr(cfg, "model_type", None)


# Two-tower models: each tower's keys, compared tower by tower.
TWO_TOWERS = ("clip", "siglip")
TOWER_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "hidden_act", "layer_norm_eps")
TOWER_EXTRA = {"text": ("vocab_size", "max_position_embeddings", "eos_token_id", "projection_size"), "vision": ("image_size", "patch_size", "num_channels")}


def towers(cfg, get):
    """`text.KEY` and `vision.KEY` of a two-tower config (an object or a
    dict of dicts), and the shared `projection_dim`."""
    out = {}
    for side in ("text", "vision"):
        t = get(cfg, f"{side}_config")
        for k in TOWER_KEYS + TOWER_EXTRA[side]:
            v = t.get(k) if isinstance(t, dict) else getattr(t, k, None)
            if v is not None:
                out[f"{side}.{k}"] = plain(v)
    p = get(cfg, "projection_dim")
    if p:
        out["projection_dim"] = plain(p)
    return out


def args_config(args):
    """The keys from an MLX-side args object (mlx-lm or a package)."""
    if getattr(args, "model_type", None) in TWO_TOWERS and getattr(args, "text_config", None):
        return towers(args, lambda o, n: getattr(o, n, None))
    out = effective(args, lambda o, n: getattr(o, n, None))
    # A package keeps its mixture-of-experts values in one object.
    moe = getattr(args, "moe", None)
    if moe is not None:
        out.update({k: v for k, v in effective(moe, lambda o, n: getattr(o, n, None)).items() if k not in out})
    if "head_dim" not in out and out.get("hidden_size") and out.get("num_attention_heads"):
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
    theta = getattr(args, "rope_theta", None)
    if theta is not None:
        theta, rtype, factor = rope_of(theta, getattr(args, "rope_scaling", None))
        out["rope_theta"] = float(theta)
        out["rope_type"] = rtype
        if factor is not None:
            out["rope_factor"] = float(factor)
        trad = getattr(args, "rope_traditional", None)
        if trad is not None:
            out["rope_traditional"] = bool(trad)
    bases = getattr(args, "rope_bases", None)
    if isinstance(bases, dict):
        for kind, t in bases.items():
            out[f"rope_theta.{kind}"] = float(t)
        out["layer_types"] = plain(getattr(args, "layer_types", None))
    return out


def intercept(record):
    """Replace ``load_weights`` so that loading records and stops."""
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    def fake(self, file_or_weights, strict=True):
        params = {k: [list(v.shape), str(v.dtype).replace("mlx.core.", "")] for k, v in tree_flatten(self.parameters())}
        items = file_or_weights if isinstance(file_or_weights, list) else list(file_or_weights.items())
        record["parameters"] = params
        record["loaded"] = {k: [list(v.shape), str(v.dtype).replace("mlx.core.", "")] for k, v in items}
        record["model"] = self
        raise Intercepted()

    nn.Module.load_weights = fake


def plant(planned_path):
    """Make ``mx.load`` of a safetensors file return the planned weights as
    lazy zeros (nothing is allocated: the model is only built, and
    ``load_weights`` is intercepted before anything is evaluated)."""
    import mlx.core as mx

    with open(planned_path) as f:
        planned = json.load(f)
    served = []

    def fake_load(path, *a, **k):
        if not str(path).endswith(".safetensors"):
            common.fail(f"the planned-weights probe cannot read {path}")
        if served:
            return {}
        served.append(path)
        return {n: mx.zeros(shape, dtype=getattr(mx, dtype)) for n, (shape, dtype) in planned.items()}

    mx.load = fake_load


def mlx_lm_side(path):
    from pathlib import Path

    from mlx_lm import utils

    record = {}
    intercept(record)
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    _, args_cls = utils._get_classes(cfg)
    args = args_cls.from_dict(cfg)
    try:
        utils.load_model(Path(path), lazy=True, strict=True)
    except Intercepted:
        pass
    import glob

    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "model*.safetensors")))
    return args_config(args), record, files


def mlx_vlm_side(path):
    """mlx-vlm's model of a vision-language directory: its parameters and
    loaded tensors (intercepted), and its decoder's configuration (the
    keys the config rung compares)."""
    import glob
    from pathlib import Path

    from mlx_vlm.utils import load_model

    record = {}
    intercept(record)
    try:
        load_model(Path(path), lazy=True)
    except Intercepted:
        pass
    model = record.get("model")
    text = getattr(getattr(model, "config", None), "text_config", None)
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "*.safetensors")))
    return (args_config(text) if text is not None else {}), record, files


def package_side(pkg_dir, weights):
    import glob
    import importlib

    pkg_dir = os.path.abspath(pkg_dir)
    sys.path.insert(0, os.path.dirname(pkg_dir))
    pkg = importlib.import_module(os.path.basename(pkg_dir))
    record = {}
    intercept(record)
    try:
        pkg.load(weights)
    except Intercepted:
        pass
    model = record.get("model")
    args = getattr(model, "args", None)
    if args is None:
        with open(os.path.join(weights, "config.json")) as f:
            cfg = json.load(f)
        try:
            args = pkg.ModelArgs.from_config(cfg, weights)
        except TypeError:
            args = pkg.ModelArgs.from_config(cfg)
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(weights, "*.safetensors")))
    return args_config(args), record, files


def main():
    a = parse_args()
    timer = common.Timer()
    src, model_type = source_config(a.source)
    if a.planned:
        plant(a.planned)
    if not (a.package or a.mlx_lm or a.mlx_vlm):
        common.fail("give --package DIR --weights DIR, --mlx-lm DIR or --mlx-vlm DIR")
    try:
        if a.package:
            tgt, record, files = package_side(a.package, a.weights)
        elif a.mlx_vlm:
            tgt, record, files = mlx_vlm_side(a.mlx_vlm)
        else:
            tgt, record, files = mlx_lm_side(a.mlx_lm)
    except Exception as e:  # the target cannot build the model: reported, with where
        import traceback

        frame = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
        out = {"source_model_type": model_type, "source_config": src, "target_error": f"{type(e).__name__}: {e} (raised at {where})", "elapsed_s": timer.elapsed()}
        record = None
    if record is not None:
        if "parameters" not in record:
            common.fail("the MLX side never called load_weights: cannot list the weights it loads")
        out = {
            "source_model_type": model_type,
            "source_config": src,
            "target_config": tgt,
            "weights": {"parameters": record["parameters"], "loaded": record["loaded"], "files": files},
            "elapsed_s": timer.elapsed(),
        }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
