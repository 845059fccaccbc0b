"""Reference values for the quality metrics, computed with numpy (float64)
and torch on the same arrays mlxport reads.

usage: quality_numpy.py OUT.npz  -> writes the arrays, prints expected metrics as JSON
"""

import json
import sys

import numpy as np
import torch

rng = np.random.default_rng(7)
out = sys.argv[1]

# Next-token logits: a mix of flat, peaked and near-identical rows.
n, v = 300, 1000
ref = rng.normal(0, 3, size=(n, v)).astype(np.float32)
ref[::7] *= 4.0  # peaked rows
cand = (ref + rng.normal(0, 0.6, size=(n, v))).astype(np.float32)
cand[::11] = ref[::11]  # identical rows: KL exactly 0
cand[5::13] = rng.normal(0, 3, size=cand[5::13].shape).astype(np.float32)  # unrelated rows
targets = rng.integers(0, v, size=n).astype(np.int32)


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


lr, lc = log_softmax(ref), log_softmax(cand)
kl = (np.exp(lr) * (lr - lc)).sum(axis=1)
# torch's kl_div(input=log q, target=log p, log_target=True) is KL(p || q) per element.
kl_torch = torch.nn.functional.kl_div(torch.from_numpy(lc), torch.from_numpy(lr), reduction="none", log_target=True).sum(dim=1).numpy()
assert np.allclose(kl, kl_torch, rtol=1e-12, atol=1e-15)
nll_r = -lr[np.arange(n), targets]
nll_c = -lc[np.arange(n), targets]


def topk(x, k):
    # Largest first, ties by lower index (stable sort of -x).
    return np.argsort(-x, axis=1, kind="stable")[:, :k]


tr, tc = topk(lr, 5), topk(lc, 5)
top1 = (tr[:, 0] == tc[:, 0]).mean()
top5 = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(tr, tc)])

# Greedy ids [P, N].
p, g = 6, 20
gr = rng.integers(0, 50, size=(p, g)).astype(np.int32)
gc = gr.copy()
gc[1, 7:] = gr[1, 7:] + 1
gc[3, 0] = gr[3, 0] + 1
gc[4, 19] = gr[4, 19] + 1
diff = gr != gc
first = [int(np.argmax(d)) if d.any() else None for d in diff]
exact = float(np.mean([f is None for f in first]))
prefix = float(np.mean([(f if f is not None else g) / g for f in first]))

# Embeddings [S, H], queries [Q, H].
s, q, h = 40, 9, 64
emb_r = rng.normal(size=(s, h)).astype(np.float32)
emb_c = (emb_r + rng.normal(0, 0.3, size=(s, h))).astype(np.float32)
qr = rng.normal(size=(q, h)).astype(np.float32)
qc = (qr + rng.normal(0, 0.3, size=(q, h))).astype(np.float32)


def cos_rows(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def cos_matrix(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))


cos = cos_rows(emb_r, emb_c)
sr, sc = cos_matrix(qr, emb_r), cos_matrix(qc, emb_c)
k = 5
overlaps, rhos, top1n = [], [], []
for j in range(q):
    rr = np.argsort(-sr[j], kind="stable")
    rc = np.argsort(-sc[j], kind="stable")
    overlaps.append(len(set(rr[:k]) & set(rc[:k])) / k)
    ra, rb = np.empty(s), np.empty(s)
    ra[rr] = np.arange(s)
    rb[rc] = np.arange(s)
    rhos.append(np.corrcoef(ra, rb)[0, 1])  # Pearson of ranks = Spearman without ties
    top1n.append(rr[0] == rc[0])

np.savez(out, reference=ref, candidate=cand, targets=targets, greedy_reference=gr, greedy_candidate=gc, emb_reference=emb_r, emb_candidate=emb_c, query_reference=qr, query_candidate=qc)
print(json.dumps({
    "lm": {
        "positions": n,
        "perplexity_reference": float(np.exp(nll_r.mean())),
        "perplexity_candidate": float(np.exp(nll_c.mean())),
        "perplexity_ratio": float(np.exp(nll_c.mean()) / np.exp(nll_r.mean())),
        "kl_mean": float(kl.mean()),
        "kl_p99": float(np.percentile(kl, 99)),
        "kl_max": float(kl.max()),
        "kl_max_position": int(np.argmax(kl)),
        "top1_agreement": float(top1),
        "top5_overlap": float(top5),
    },
    "kl_per_position": kl.tolist(),
    "greedy": {"first": first, "exact_match_rate": exact, "mean_matching_prefix": prefix},
    "encoder": {
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "cosine_min_sentence": int(np.argmin(cos)),
        "overlap_at_k": float(np.mean(overlaps)),
        "spearman_mean": float(np.mean(rhos)),
        "spearman_min": float(np.min(rhos)),
        "top1_agreement": float(np.mean(top1n)),
    },
}))
