"""Build the tiny random-weight checkpoints of the parity matrix.

Run by ``mlxport parity matrix`` (embedded in the binary); not meant to be
run by hand. One process builds every requested entry, so torch and
transformers are imported once.

``--specs`` is a JSON file: a list of ``{"name", "model_type",
"auto_class", "config"}`` objects (the matrix spec files). For each entry,
``--out``/NAME/ receives ``config.json``, ``model.safetensors`` and a
tokenizer, or for an image model (``image_processor``: a transformers
image processor class and its arguments) ``preprocessor_config.json``, and
for a vision-language model (``processor``: its class and arguments) the
processor with the image token in the tokenizer:
transformers builds the model from the config alone (``AutoConfig.for_model``,
then the Auto class's ``from_config``, never remote code) after
``torch.manual_seed(0)``, in float32, and saves it with safetensors. The
same spec gives the same bytes.

Writes ``--result``: per entry, ``{"name", "status": "built" | "error",
"class", "parameters", "seconds", "error"}``. An entry transformers cannot
build is reported, not fatal.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def build(spec, out_dir, torch, transformers):
    cfg = dict(spec["config"])
    model_type = cfg.pop("model_type", None) or spec["model_type"]
    # No code from the checkpoint is ever run: an `auto_map` in the spec is
    # written into config.json after transformers built its own class.
    remote = cfg.pop("auto_map", None)
    config = transformers.AutoConfig.for_model(model_type, **cfg)
    config.dtype = torch.float32
    auto = getattr(transformers, spec.get("auto_class") or "AutoModel")
    torch.manual_seed(0)
    # An Auto class builds from the config; a model class (a head no Auto
    # class maps, DeiT's distilled classifier) is constructed directly.
    model = auto.from_config(config, dtype=torch.float32) if hasattr(auto, "from_config") else auto(config)
    model = model.to(torch.float32).eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    if remote:
        # The remote-code marker is added after building: the model itself
        # is one transformers implements, the config asks for its own code.
        path = os.path.join(out_dir, "config.json")
        with open(path) as f:
            saved = json.load(f)
        saved["auto_map"] = remote
        with open(path, "w") as f:
            json.dump(saved, f, indent=2, sort_keys=True)
            f.write("\n")
    # generation_config.json is not a model file the matrix needs; its
    # contents vary with transformers' defaults.
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    proc = spec.get("image_processor")
    if proc:
        # An image model's preprocessing, saved as transformers saves it.
        getattr(transformers, proc["class"])(**(proc.get("kwargs") or {})).save_pretrained(out_dir)
    vlm = spec.get("processor")
    if vlm:
        # A vision-language model's processor: the word-level tokenizer up
        # to the image token, which is added as a special token at the
        # config's image_token_index; the image processor inside it.
        token = int(config.image_token_index)
        text = config.text_config
        # The tokenizer object itself, not read back: from_pretrained would
        # record the loading environment (local_files_only) in its config.
        tok = write_tokenizer(out_dir, token, getattr(text, "pad_token_id", None))
        tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
        if tok.convert_tokens_to_ids("<image>") != token:
            raise ValueError(f"the image token did not land at image_token_index {token}")
        ip = getattr(transformers, proc["class"])(**(proc.get("kwargs") or {}))
        getattr(transformers, vlm["class"])(image_processor=ip, tokenizer=tok, image_token="<image>", **(vlm.get("kwargs") or {})).save_pretrained(out_dir)
        return {"class": type(model).__name__, "parameters": int(sum(p.numel() for p in model.parameters()))}
    text = getattr(config, "text_config", None)
    vocab = int(getattr(config, "vocab_size", 0) or spec["config"].get("vocab_size", 0) or getattr(text, "vocab_size", 0) or 0)
    if vocab:
        pad = getattr(config, "pad_token_id", None) if text is None else getattr(text, "pad_token_id", None)
        write_tokenizer(out_dir, vocab, pad)
    return {"class": type(model).__name__, "parameters": int(sum(p.numel() for p in model.parameters()))}


def write_tokenizer(out_dir, vocab_size, pad_id):
    """A word-level tokenizer over the whole vocabulary (ids 0-3 are
    ``<pad>``, ``<s>``, ``</s>``, ``<unk>``, with ``<pad>`` at the config's
    pad_token_id; then ``t4`` ...): parity runs give token ids, but both
    sides load the checkpoint's tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "</s>", "<unk>"]
    pad_at = pad_id if isinstance(pad_id, int) and 0 <= pad_id < 4 else 0
    specials.insert(pad_at, "<pad>")
    vocab = {t: i for i, t in enumerate(specials)}
    for i in range(len(specials), max(vocab_size, len(specials))):
        vocab[f"t{i}"] = i
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(out_dir)
    return fast


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--specs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--result", required=True)
    a = ap.parse_args()
    specs = common.read_json(a.specs)
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_default_dtype(torch.float32)
    results = []
    for spec in specs:
        t0 = time.perf_counter()
        out_dir = os.path.join(a.out, spec["name"])
        common.log(f"building {spec['name']} ({spec['model_type']})")
        try:
            r = build(spec, out_dir, torch, transformers)
            r.update({"name": spec["name"], "status": "built"})
        except Exception as e:  # reported per entry: one bad spec stops nothing else
            r = {"name": spec["name"], "status": "error", "error": f"{type(e).__name__}: {e}"}
        r["seconds"] = round(time.perf_counter() - t0, 3)
        results.append(r)
    with open(a.result, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
