"""Image throughput of a scaffolded image-model package for the port's
bench step and ``mlxport bench`` (embedded in the binary).

The images (``--image`` files or folders, else scikit-image's photographs)
go through the package's own image processor once, untimed, and are
cycled to ``--inputs`` pixel arrays. Then, for each ``--batch-size``
(repeatable), the whole set runs through the model in batches of that
size: after ``--warmup`` untimed passes, ``--runs`` timed passes, the
batch sizes interleaved with the order alternating, so that pass i of each
saw the same machine. A timed region starts after ``mx.synchronize()`` and
ends when every output is evaluated; preprocessing is not in it.

Output (``--out FILE``, schema ``mlxport.bench-images/v1``): the input
count and shape and, per batch size, its per-pass seconds, MLX's peak
memory, and how far its outputs are from batch one's (largest absolute
difference).
"""

import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402
from quality_vision import files_of, photographs  # noqa: E402

SCHEMA = "mlxport.bench-images/v1"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch-size", dest="batch_sizes", type=int, action="append", required=True)
    ap.add_argument("--image", action="append", default=[])
    ap.add_argument("--inputs", type=int, default=16)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def main():
    args = parse_args()
    if args.runs < 1 or args.warmup < 0 or args.inputs < 1 or any(b < 1 for b in args.batch_sizes):
        common.fail("--runs, --inputs and every --batch-size must be at least 1, --warmup non-negative")
    import mlx.core as mx
    import numpy as np

    name, pkg, family = common.package_family(args.package)
    if family != "vision":
        common.fail(f"the image benchmark needs an image-model package; {name} is a {family} package")
    image = importlib.import_module(name + ".image")
    files = files_of(args.image, image.EXTENSIONS) if args.image else photographs()
    if not files:
        common.fail("no images to run")
    processor = image.ImageProcessor.from_dir(args.weights)
    try:
        pixels = [processor([image.load_image(f)]) for f in files]
    except image.ImageError as e:
        common.fail(str(e))
    data = np.concatenate([pixels[i % len(pixels)] for i in range(args.inputs)])
    t = time.perf_counter()
    model, _ = pkg.load(args.weights)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t

    def one(b):
        mx.synchronize()
        mx.reset_peak_memory()
        t0 = time.perf_counter()
        outs = []
        for i in range(0, len(data), b):
            out = model(mx.array(data[i : i + b]))
            mx.eval(list(out.values()))
            outs.append(out)
        s = time.perf_counter() - t0
        key = next(k for k in ("logits", "image_embeds", "last_hidden_state") if k in outs[0])
        return s, np.concatenate([np.array(o[key].astype(mx.float32)) for o in outs]), mx.get_peak_memory()

    sizes = args.batch_sizes
    seconds, peaks, outs = common.interleaved(sizes, args.runs, args.warmup, one)
    doc = {
        "schema": SCHEMA,
        "implementation": f"package {name}",
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "images": len(files),
        "inputs": int(len(data)),
        "pixel_values_shape": list(data.shape[1:]),
        "load_s": load_s,
        "warmup": args.warmup,
        "sides": [
            {"options": {"batch_size": b}, "seconds": seconds[k], "peak_memory_bytes": float(peaks[k]), "max_abs_diff_vs_first": float(np.abs(outs[k] - outs[0]).max())}
            for k, b in enumerate(sizes)
        ],
    }
    common.write_json(args.out, doc)


if __name__ == "__main__":
    main()
