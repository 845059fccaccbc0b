"""Reference metrics for the parity tests, computed with numpy in float64.

    python metrics_ref.py OUT_DIR

Writes a.npz / b.npz (float and integer cases numpy can hold), a.safetensors /
b.safetensors (bf16 and f16 cases, made with torch), and ref.json with, per
case, the tolerances used and every metric computed independently here:
element-wise arithmetic in numpy float64 (IEEE, correctly rounded), sums
with math.fsum (exact, rounded once), the softmax with math.exp / math.log.
"""
import json, math, struct, sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20240607)
TINY = sys.float_info.min


def fsum(x):
    return math.fsum(np.asarray(x, dtype=np.float64).ravel().tolist())


def unravel(flat, shape):
    return [int(v) for v in np.unravel_index(int(flat), shape)] if len(shape) else []


def ordered(bits, sign_bit):
    bits = bits.astype(np.int64) if bits.dtype.itemsize < 8 else bits.view(np.uint64)
    if sign_bit == 63:
        mag = (bits & np.uint64((1 << 63) - 1)).astype(object)
        neg = (bits >> np.uint64(63)).astype(bool)
        return np.where(neg, -mag, mag)
    mag = bits & ((1 << sign_bit) - 1)
    return np.where((bits >> sign_bit) & 1, -mag, mag)


def ulp_max(a_bits, b_bits, sign_bit, finite):
    if not finite.any():
        return 0
    oa, ob = ordered(a_bits[finite], sign_bit), ordered(b_bits[finite], sign_bit)
    return int(max(abs(int(x) - int(y)) for x, y in zip(oa, ob))) if sign_bit == 63 else int(np.abs(oa - ob).max())


def scale_of(rms):
    """The power of two nearest rms by ratio (boundaries at sqrt(2) * 2^k)."""
    if rms <= 0:
        return 0.0
    m, e = math.frexp(rms)
    k = e - 1
    if m * 2 >= math.sqrt(2):
        k += 1
    return math.ldexp(1.0, k)


def float_metrics(a64, b64, shape, atol, rtol, equal_nan, ulp_bits=None):
    a, b = a64.ravel(), b64.ravel()
    fa, fb = np.isfinite(a), np.isfinite(b)
    F = fa & fb
    bf = b[fb]
    rms = math.sqrt(fsum(bf * bf) / len(bf)) if len(bf) else 0.0
    scale = scale_of(rms)
    floor = scale if scale > 0 else TINY
    if atol is None:
        atol = rtol * scale
    idx = np.flatnonzero(F)
    x, y = a[F], b[F]
    d = x - y
    ad, ay = np.abs(d), np.abs(y)
    n = int(F.sum())
    out = dict(count=int(a.size), finite_pairs=n, rel_floor=floor, atol=atol, rtol=rtol)
    if n:
        i = int(np.argmax(ad))
        rel = ad / np.maximum(ay, floor)
        j = int(np.argmax(rel))
        aa, bb, dot = fsum(x * x), fsum(y * y), fsum(x * y)
        if aa == 0 and bb == 0:
            cosine = 1.0
        elif aa == 0 or bb == 0:
            cosine = 0.0
        else:
            p = aa * bb
            cosine = dot / math.sqrt(p) if (math.isfinite(p) and p > 0) else dot / (math.sqrt(aa) * math.sqrt(bb))
            cosine = min(1.0, max(-1.0, cosine))
        out.update(
            max_abs=float(ad[i]), max_abs_at=int(idx[i]), mean_abs=fsum(ad) / n, rmse=math.sqrt(fsum(d * d) / n),
            max_rel=float(rel[j]), max_rel_at=int(idx[j]), cosine=cosine,
        )
    else:
        out.update(max_abs=None, max_abs_at=None, mean_abs=None, rmse=None, max_rel=None, max_rel_at=None, cosine=None)
    viol = np.zeros(a.size, dtype=bool)
    viol[F] = ad > atol + rtol * ay
    nf = ~F
    an, bn = np.isnan(a), np.isnan(b)
    close_nf = np.where(an | bn, equal_nan & an & bn, a == b)
    viol[nf] = ~close_nf[nf]
    first = lambda m: int(np.flatnonzero(m)[0]) if m.any() else None
    out.update(
        violations=int(viol.sum()), first_violation=first(viol),
        nan_a=int(an.sum()), inf_a=int(np.isinf(a).sum()), first_nonfinite_a=first(~fa),
        nan_b=int(bn.sum()), inf_b=int(np.isinf(b).sum()), first_nonfinite_b=first(~fb),
        shape=list(shape),
    )
    if ulp_bits is not None:
        a_bits, b_bits, sign = ulp_bits
        out["max_ulp"] = ulp_max(a_bits.ravel(), b_bits.ravel(), sign, F)
    return out


def log_softmax(row):
    m = max(row)
    s = math.fsum(math.exp(v - m) for v in row)
    ls = math.log(s)
    return [(v - m) - ls for v in row]


def topk(row, k):
    return sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]


def kl(lp, lq):
    return math.fsum(math.exp(p) * (p - q) for p, q in zip(lp, lq) if p != -math.inf)


def logit_metrics(a64, b64, k):
    v = a64.shape[-1]
    A, B = a64.reshape(-1, v).tolist(), b64.reshape(-1, v).tolist()
    pos = []
    for r, (x, y) in enumerate(zip(A, B)):
        la, lb = log_softmax(x), log_softmax(y)
        ta, tb = topk(x, k), topk(y, k)
        pd = max(abs(math.exp(p) - math.exp(q)) for p, q in zip(la, lb))
        pos.append(dict(position=r, top1_a=ta[0], top1_b=tb[0], topk_overlap=len(set(ta) & set(tb)) / k,
                        kl_ab=kl(la, lb), kl_ba=kl(lb, la), max_prob_diff=pd))
    n = len(pos)
    return dict(
        positions=n, top1_agree=sum(p["top1_a"] == p["top1_b"] for p in pos),
        topk_overlap_mean=math.fsum(p["topk_overlap"] for p in pos) / n,
        kl_ab_mean=math.fsum(p["kl_ab"] for p in pos) / n, kl_ba_mean=math.fsum(p["kl_ba"] for p in pos) / n,
        kl_ab_max=max(p["kl_ab"] for p in pos), kl_ba_max=max(p["kl_ba"] for p in pos),
        max_prob_diff=max(p["max_prob_diff"] for p in pos), per_position=pos,
    )


np_a, np_b, st_a, st_b, cases = {}, {}, {}, {}, {}


def f32_case(name, a, b, atol=1e-6, rtol=1e-5, equal_nan=False, logits=False):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    np_a[name], np_b[name] = a, b
    c = float_metrics(a.astype(np.float64), b.astype(np.float64), a.shape, atol, rtol, equal_nan,
                      (a.view(np.uint32), b.view(np.uint32), 31))
    c.update(kind="float", equal_nan=equal_nan, atol_given=atol is not None)
    if logits:
        c["logits"] = logit_metrics(a.astype(np.float64), b.astype(np.float64), 5)
    cases[name] = c


# Random pairs: small noise, a size that is not a multiple of any block.
x = rng.standard_normal((301, 1001)).astype(np.float32)
f32_case("random", x + rng.standard_normal(x.shape).astype(np.float32) * 1e-5, x)
f32_case("random_defaults", x + rng.standard_normal(x.shape).astype(np.float32) * 1e-5, x, atol=None, rtol=(2.0 ** -23) ** (2.0 / 3.0))
f32_case("uncorrelated", rng.standard_normal(70001), rng.standard_normal(70001), atol=1e-3, rtol=1e-3)
# A reference whose first window (4 Mi values) is 16x smaller than the
# rest: the scale guessed from the start is wrong and must be corrected.
big = rng.standard_normal((1 << 22) + 300_000).astype(np.float32)
big[: 1 << 22] *= np.float32(1 / 16)
f32_case("scale_guess_wrong", big + np.float32(1e-3), big, atol=None, rtol=1e-3)
# Zeros.
f32_case("zeros", np.zeros(1000), np.zeros(1000))
f32_case("zeros_vs_random", np.zeros(1000), rng.standard_normal(1000))
f32_case("random_vs_zeros", rng.standard_normal(1000), np.zeros(1000))
f32_case("signed_zeros", np.array([0.0, -0.0, 0.0, -0.0]), np.array([-0.0, 0.0, 0.0, -0.0]))
# Denormals (f32 subnormals), against each other and against zero.
den = (rng.integers(1, 1 << 23, 5000).astype(np.uint32)).view(np.float32) * np.where(rng.random(5000) < 0.5, -1, 1).astype(np.float32)
den2 = (rng.integers(1, 1 << 23, 5000).astype(np.uint32)).view(np.float32)
f32_case("denormals", den, den2, atol=0.0, rtol=1e-3)
f32_case("denormal_vs_zero", den, np.zeros(5000, np.float32), atol=0.0, rtol=0.0)
# NaN placement: A only, B only, both in the same and in different places.
base = rng.standard_normal(4099).astype(np.float32)
na, nb = base.copy(), base.copy()
na[[0, 17, 4098]] = np.nan
nb[[17, 2000]] = np.nan
f32_case("nan_placement", na, nb)
f32_case("nan_placement_equal_nan", na, nb, equal_nan=True)
both = base.copy()
both[[5, 6, 7]] = np.nan
f32_case("nan_same_places_equal_nan", both, both.copy(), equal_nan=True)
f32_case("all_nan", np.full(33, np.nan), np.full(33, np.nan), equal_nan=True)
# Infinities: matching, opposite signs, against finite.
ia, ib = base.copy(), base.copy()
ia[[3, 9, 100]] = [np.inf, -np.inf, np.inf]
ib[[3, 9, 101]] = [np.inf, np.inf, -np.inf]
f32_case("infinities", ia, ib)
# Huge dynamic range: magnitudes 1e-38 .. 3e38 in one tensor.
mag = np.exp(rng.uniform(np.log(1e-38), np.log(3e38), 20000)).astype(np.float32) * np.where(rng.random(20000) < 0.5, -1, 1).astype(np.float32)
f32_case("dynamic_range", mag * np.float32(1 + 1e-6), mag, atol=0.0, rtol=1e-6)
f32_case("dynamic_range_mixed", mag, mag[::-1].copy(), atol=1.0, rtol=0.5)
# Ties for the largest error: the first index wins.
t = np.zeros(2048, np.float32)
t[[100, 900, 2000]] = 1.0
f32_case("ties", t, np.zeros(2048, np.float32))
# Logits with a masked (-inf) vocabulary entry on both sides.
lg = rng.standard_normal((16, 1000)).astype(np.float32) * 4
lg2 = lg + rng.standard_normal(lg.shape).astype(np.float32) * 0.05
lg[:, 7] = -np.inf
lg2[:, 7] = -np.inf
f32_case("model.logits", lg2, lg, atol=1e-2, rtol=1e-2, logits=True)

# float64 and float16 (numpy holds both), mixed dtypes.
d64 = rng.standard_normal(10007) * 1e3
np_a["f64"], np_b["f64"] = d64 * (1 + 1e-12), d64
cases["f64"] = dict(kind="float", equal_nan=False, atol_given=True,
                    **float_metrics(np_a["f64"], d64, d64.shape, 1e-9, 1e-12, False, (np_a["f64"].view(np.uint64), d64.view(np.uint64), 63)))
h = rng.standard_normal(9001).astype(np.float16)
h2 = (h.astype(np.float32) * np.float32(1.001)).astype(np.float16)
h2[[1, 2]] = [np.float16(65504), np.float16(6e-8)]
np_a["f16"], np_b["f16"] = h2, h
cases["f16"] = dict(kind="float", equal_nan=False, atol_given=True,
                    **float_metrics(h2.astype(np.float64), h.astype(np.float64), h.shape, 1e-3, 1e-3, False, (h2.view(np.uint16), h.view(np.uint16), 15)))
mix_a = rng.standard_normal(5000).astype(np.float16)
mix_b = mix_a.astype(np.float32) + rng.standard_normal(5000).astype(np.float32) * 1e-4
np_a["mixed_f16_f32"], np_b["mixed_f16_f32"] = mix_a, mix_b
cases["mixed_f16_f32"] = dict(kind="float", equal_nan=False, atol_given=True,
                              **float_metrics(mix_a.astype(np.float64), mix_b.astype(np.float64), mix_a.shape, 1e-3, 1e-3, False))

# Integers: exact.
ids = rng.integers(0, 50000, (4, 33)).astype(np.int64)
ids2 = ids.copy()
ids2[1, 5], ids2[3, 0] = 7, ids[3, 0] + 1
np_a["ids"], np_b["ids"] = ids2, ids
np_a["ids_i32_vs_i64"], np_b["ids_i32_vs_i64"] = ids.astype(np.int32), ids
np_a["mask"], np_b["mask"] = np.ones((2, 9), np.bool_), np.ones((2, 9), np.bool_)
for name in ("ids", "ids_i32_vs_i64", "mask"):
    a, b = np_a[name].astype(np.int64).ravel(), np_b[name].astype(np.int64).ravel()
    mism = np.flatnonzero(a != b)
    cases[name] = dict(kind="exact", mismatches=int(mism.size), shape=list(np_a[name].shape),
                       first=None if mism.size == 0 else dict(at=int(mism[0]), a=int(a[mism[0]]), b=int(b[mism[0]])))

# bf16 and f16 through torch into safetensors.
tb = torch.from_numpy(rng.standard_normal((64, 257)).astype(np.float32)).to(torch.bfloat16)
tb2 = (tb.float() * 1.01).to(torch.bfloat16)
tb2[0, 0] = float("nan")
tb2[1, 1] = float("inf")
tb2[2, 2] = 1e-40  # a bf16 subnormal
st_a["bf16"], st_b["bf16"] = tb2, tb
bits = lambda t: t.contiguous().view(torch.int16).numpy().view(np.uint16)
cases["bf16"] = dict(kind="float", equal_nan=False, atol_given=True,
                     **float_metrics(tb2.double().numpy(), tb.double().numpy(), tuple(tb.shape), 1e-2, 1e-2, False, (bits(tb2), bits(tb), 15)))
th = torch.from_numpy(rng.standard_normal((33, 65)).astype(np.float32)).to(torch.float16)
th2 = (th.float() + 1e-3).to(torch.float16)
st_a["f16_st"], st_b["f16_st"] = th2, th
cases["f16_st"] = dict(kind="float", equal_nan=False, atol_given=True,
                       **float_metrics(th2.double().numpy(), th.double().numpy(), tuple(th.shape), 1e-3, 1e-3, False, (bits(th2), bits(th), 15)))

np.savez(OUT / "a.npz", **np_a)
np.savez_compressed(OUT / "b.npz", **np_b)
save_file(st_a, str(OUT / "a.safetensors"))
save_file(st_b, str(OUT / "b.safetensors"))


def clean(v):
    # Floats travel as their IEEE-754 bits ("f:" + 16 hex digits), so no
    # decimal parsing can move them by an ulp.
    if isinstance(v, float):
        return "f:%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v


(OUT / "ref.json").write_text(json.dumps(clean(cases), indent=1))
print(len(cases))
