#!/usr/bin/env python3
"""One TRM training step in PyTorch: the baseline `npm run bench:torch` measures.

Our own implementation of the official TinyRecursiveModels training step, written from the
behavioural spec (docs: official-trm.md §5-§7), float32, CPU:

- ACT wrapper: rows that halted last step restart from H_init / L_init with the batch's data;
  steps += 1; halted = steps >= halt_max_steps, or (train) q_halt > 0 (q_halt > q_continue when
  no_ACT_continue is false, which also adds the target_q_continue pass), with exploration.
- Input embedding: sqrt(D) * [puzzle-embedding prefix (zero-padded to puzzle_emb_len*D); tokens],
  learned positions as 0.707106781 * (x + pos) before the scale.
- Deep recursion: T-1 cycles without gradient, one with; a cycle is n updates
  z_L = net(z_L, z_H + x) and one z_H = net(z_H, z_L); net(s, i) = blocks(s + i).
- Blocks, post-norm RMS without gain: attention (RoPE / learned / no positions) or mlp_t (a
  SwiGLU mixing along the sequence axis, RMS norm over that axis), then a SwiGLU over D.
  SwiGLU width = ceil256(round(expansion * d * 2 / 3)).
- Heads: lm head on the grid positions, Q head on position 0.
- Loss: stablemax cross entropy in float64 (or softmax in float32), per-row mean over non-ignored
  tokens summed over rows, + 0.5 * BCE(q_halt, sequence exactly correct) (+ q_continue's BCE).
- Optimizers: AdamATan2 (imoneoi form: decay first, m/v lerps, step lr/(1-b1^t) * atan2(m,
  sqrt(v)/sqrt(1-b2^t))) on every parameter; SignSGD on the puzzle-embedding rows in the batch.

Usage (Debian's /usr/bin/python3 with python3-torch):

    python3 bench/torch_step.py --check test/fixtures/official/*.safetensors
    python3 bench/torch_step.py [--json] [--quick] [--config small|sudoku-paper] [--threads 2]

--check replays each golden trace teacher-forced (step s from the recorded carry of step s-1,
step 0 from an all-halted carry) and compares logits, q logits, carry, losses and gradients within
1e-4 relative to the reference's max-abs; exit 1 on any mismatch. The timing mode runs each
config in a child process (so peak RSS is per config) and prints
{"train_step": [{"config", "batch", "ms", "peak_rss_mb", "blas"}]} with --json.
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # reported by main(); py_compile and --help work without torch
    torch = None
    F = None

IGNORE = -100
TOL = 1e-4

# ------------------------------------------------------------------------------------------------
# config


def ceil256(x):
    return -(-x // 256) * 256


def swiglu_width(expansion, d):
    return ceil256(round(expansion * d * 2 / 3))  # Python round: halves to even, as the official code


class Cfg(object):
    def __init__(self, d):
        self.B = int(d["batch_size"])
        self.S = int(d["seq_len"])
        self.V = int(d["vocab_size"])
        self.D = int(d["hidden_size"])
        self.T = int(d["H_cycles"])
        self.n = int(d["L_cycles"])
        self.layers = int(d["L_layers"])
        self.expansion = float(d["expansion"])
        self.heads = int(d.get("num_heads", 8))
        self.pos = d.get("pos_encodings", "rope")
        self.eps = float(d.get("rms_norm_eps", 1e-5))
        self.theta = float(d.get("rope_theta", 10000.0))
        self.max_steps = int(d["halt_max_steps"])
        self.explore = float(d.get("halt_exploration_prob", 0.0))
        self.mlp_t = bool(d.get("mlp_t", False))
        self.no_act_continue = bool(d.get("no_ACT_continue", True))
        self.pe_ndim = int(d.get("puzzle_emb_ndim", self.D))
        self.num_ids = int(d.get("num_puzzle_identifiers", 1))
        plen = int(d.get("puzzle_emb_len", 0))
        self.P = -(self.pe_ndim // -self.D) if plen == 0 else plen  # prefix length
        self.L = self.S + self.P
        self.hd = self.D // self.heads


# ------------------------------------------------------------------------------------------------
# parameters (official names, without the "inner." prefix)


def param_shapes(c):
    shapes = {
        "embed_tokens.embedding_weight": (c.V, c.D),
        "lm_head.weight": (c.V, c.D),
        "q_head.weight": (2, c.D),
        "q_head.bias": (2,),
    }
    if c.pos == "learned":
        shapes["embed_pos.embedding_weight"] = (c.L, c.D)
    inter = swiglu_width(c.expansion, c.D)
    for i in range(c.layers):
        pre = "L_level.layers.%d." % i
        if c.mlp_t:
            it = swiglu_width(c.expansion, c.L)
            shapes[pre + "mlp_t.gate_up_proj.weight"] = (2 * it, c.L)
            shapes[pre + "mlp_t.down_proj.weight"] = (c.L, it)
        else:
            shapes[pre + "self_attn.qkv_proj.weight"] = (3 * c.heads * c.hd, c.D)
            shapes[pre + "self_attn.o_proj.weight"] = (c.D, c.heads * c.hd)
        shapes[pre + "mlp.gate_up_proj.weight"] = (2 * inter, c.D)
        shapes[pre + "mlp.down_proj.weight"] = (c.D, inter)
    return shapes


def trunc_normal(shape, std, gen):
    # Truncated normal at +-2 sigma (std-corrected), as the official init; only the statistics
    # matter for timing.
    if std == 0:
        return torch.zeros(shape)
    comp = std * 1.1368472343385565
    lo, hi = math.erf(-math.sqrt(2)), math.erf(math.sqrt(2))
    u = torch.rand(shape, generator=gen) * (hi - lo) + lo
    return (torch.erfinv(u) * math.sqrt(2) * comp).clamp(-2 * comp, 2 * comp)


def init_model(c, seed=0):
    """Fresh official-style init: params (trainable) and buffers (H_init, L_init, puzzle_emb)."""
    gen = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in param_shapes(c).items():
        if name == "embed_tokens.embedding_weight":
            w = trunc_normal(shape, 1.0 / math.sqrt(c.D), gen)
        elif name == "q_head.weight":
            w = torch.zeros(shape)
        elif name == "q_head.bias":
            w = torch.full(shape, -5.0)
        elif name == "embed_pos.embedding_weight":
            w = trunc_normal(shape, 1.0 / math.sqrt(c.D), gen)
        else:
            w = trunc_normal(shape, 1.0 / math.sqrt(shape[1]), gen)
        params[name] = w.requires_grad_(True)
    bufs = {
        "H_init": trunc_normal((c.D,), 1.0, gen),
        "L_init": trunc_normal((c.D,), 1.0, gen),
        "puzzle_emb.weights": torch.zeros(c.num_ids, c.pe_ndim),
    }
    return params, bufs


# ------------------------------------------------------------------------------------------------
# model


def rms(x, eps, dim=-1):
    return x * torch.rsqrt(x.square().mean(dim, keepdim=True) + eps)


def swiglu(x, w_gate_up, w_down):
    gate, up = F.linear(x, w_gate_up).chunk(2, dim=-1)
    return F.linear(F.silu(gate) * up, w_down)


def swiglu_seq(h, w_gate_up, w_down):
    """SwiGLU along the sequence axis of h [B, L, D]: the official transposes to [B, D, L] and
    applies a Linear over L; W @ h computes the same without the transposes."""
    gate, up = torch.matmul(w_gate_up, h).chunk(2, dim=1)  # [B, 2I, D] -> 2 x [B, I, D]
    return torch.matmul(w_down, F.silu(gate) * up)  # [B, L, D]


def rope_tables(c):
    inv_freq = 1.0 / (c.theta ** (torch.arange(0, c.hd, 2, dtype=torch.float32) / c.hd))
    freqs = torch.outer(torch.arange(c.L, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # [L, hd]
    return emb.cos()[:, None, :], emb.sin()[:, None, :]  # broadcast over heads


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def attention(c, h, w_qkv, w_o, rope):
    B, L, _ = h.shape
    qkv = F.linear(h, w_qkv).view(B, L, 3 * c.heads, c.hd)
    q, k, v = qkv[:, :, :c.heads], qkv[:, :, c.heads:2 * c.heads], qkv[:, :, 2 * c.heads:]
    if rope is not None:
        cos, sin = rope
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, L, hd]
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(c.hd))
    out = torch.matmul(torch.softmax(scores, dim=-1), v)  # no mask: bidirectional
    return F.linear(out.transpose(1, 2).reshape(B, L, c.heads * c.hd), w_o)


def block(c, P, i, h, rope):
    pre = "L_level.layers.%d." % i
    if c.mlp_t:
        h = rms(h + swiglu_seq(h, P[pre + "mlp_t.gate_up_proj.weight"], P[pre + "mlp_t.down_proj.weight"]),
                c.eps, dim=1)
    else:
        h = rms(h + attention(c, h, P[pre + "self_attn.qkv_proj.weight"], P[pre + "self_attn.o_proj.weight"],
                              rope), c.eps)
    return rms(h + swiglu(h, P[pre + "mlp.gate_up_proj.weight"], P[pre + "mlp.down_proj.weight"]), c.eps)


def net(c, P, state, injection, rope):
    h = state + injection
    for i in range(c.layers):
        h = block(c, P, i, h, rope)
    return h


def embed(c, P, inputs, pe_rows):
    x = P["embed_tokens.embedding_weight"][inputs]  # [B, S, D]
    if c.pe_ndim > 0:
        pad = c.P * c.D - c.pe_ndim
        pe = F.pad(pe_rows, (0, pad)) if pad > 0 else pe_rows
        x = torch.cat((pe.view(-1, c.P, c.D), x), dim=1)
    if c.pos == "learned":
        x = 0.707106781 * (x + P["embed_pos.embedding_weight"])
    return math.sqrt(c.D) * x


def inner(c, P, z_H, z_L, x, rope, grad):
    """One supervision step's recursion. Returns the new carry (detached) and the heads."""
    with torch.no_grad():
        for _ in range(c.T - 1):
            for _ in range(c.n):
                z_L = net(c, P, z_L, z_H + x, rope)
            z_H = net(c, P, z_H, z_L, rope)
    with torch.set_grad_enabled(grad):
        for _ in range(c.n):
            z_L = net(c, P, z_L, z_H + x, rope)
        z_H = net(c, P, z_H, z_L, rope)
        logits = F.linear(z_H[:, c.P:], P["lm_head.weight"])
        q = F.linear(z_H[:, 0], P["q_head.weight"], P["q_head.bias"]).float()
    return z_H.detach(), z_L.detach(), logits, q[:, 0], q[:, 1]


def initial_carry(c, batch):
    B = batch["inputs"].shape[0]
    return {
        "z_H": torch.zeros(B, c.L, c.D),
        "z_L": torch.zeros(B, c.L, c.D),
        "steps": torch.zeros(B, dtype=torch.int32),
        "halted": torch.ones(B, dtype=torch.bool),
        "data": {k: torch.zeros_like(v) for k, v in batch.items()},
    }


def act_step(c, P, bufs, carry, batch, train, rope):
    """The ACT wrapper's forward. Returns (new_carry, outputs); in train mode outputs["pe_rows"]
    is the leaf whose gradient the puzzle embedding's SignSGD uses."""
    reset = carry["halted"]
    z_H = torch.where(reset[:, None, None], bufs["H_init"], carry["z_H"])
    z_L = torch.where(reset[:, None, None], bufs["L_init"], carry["z_L"])
    steps = torch.where(reset, torch.zeros_like(carry["steps"]), carry["steps"])
    data = {k: torch.where(reset.view((-1,) + (1,) * (v.dim() - 1)), batch[k], v)
            for k, v in carry["data"].items()}

    pe_rows = None
    if c.pe_ndim > 0:
        pe_rows = bufs["puzzle_emb.weights"][data["puzzle_identifiers"]].clone()
        if train:
            pe_rows.requires_grad_(True)
    with torch.set_grad_enabled(train):
        x = embed(c, P, data["inputs"], pe_rows)
    z_H, z_L, logits, q_halt, q_cont = inner(c, P, z_H, z_L, x, rope, train)
    out = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_cont, "pe_rows": pe_rows}

    with torch.no_grad():
        steps = steps + 1
        last = steps >= c.max_steps
        halted = last
        if train and c.max_steps > 1:
            if c.no_act_continue:
                halted = halted | (q_halt > 0)
            else:
                halted = halted | (q_halt > q_cont)
            if c.explore > 0:
                explore = torch.rand_like(q_halt) < c.explore
                min_steps = explore * torch.randint_like(steps, low=2, high=c.max_steps + 1)
                halted = halted & (steps >= min_steps)
            if not c.no_act_continue:
                x2 = embed(c, P, data["inputs"], pe_rows)
                _, _, _, nq_halt, nq_cont = inner(c, P, z_H, z_L, x2, rope, False)
                out["target_q_continue"] = torch.sigmoid(
                    torch.where(last, nq_halt, torch.maximum(nq_halt, nq_cont)))
    new = {"z_H": z_H, "z_L": z_L, "steps": steps, "halted": halted, "data": data}
    return new, out


def stablemax_ce(logits, labels, mask):
    x = logits.to(torch.float64)
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    logp = torch.log(s / s.sum(dim=-1, keepdim=True))
    picked = torch.gather(logp, -1, torch.where(mask, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(mask, picked, torch.zeros_like(picked))


def softmax_ce(logits, labels, mask):
    V = logits.shape[-1]
    return F.cross_entropy(logits.to(torch.float32).reshape(-1, V), labels.long().reshape(-1),
                           ignore_index=IGNORE, reduction="none").view(labels.shape)


def loss_head(c, carry, out, loss_type):
    labels = carry["data"]["labels"]
    logits = out["logits"]
    with torch.no_grad():
        mask = labels != IGNORE
        cnt = mask.sum(-1)
        div = cnt.clamp_min(1).unsqueeze(-1)
        correct = mask & (torch.argmax(logits, dim=-1) == labels)
        seq_correct = correct.sum(-1) == cnt
    ce = stablemax_ce if loss_type == "stablemax_cross_entropy" else softmax_ce
    lm_loss = (ce(logits, labels, mask) / div).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(
        out["q_halt_logits"], seq_correct.to(out["q_halt_logits"].dtype), reduction="sum")
    losses = {"lm_loss": lm_loss, "q_halt_loss": q_halt_loss}
    q_total = q_halt_loss
    if "target_q_continue" in out:
        losses["q_continue_loss"] = F.binary_cross_entropy_with_logits(
            out["q_continue_logits"], out["target_q_continue"], reduction="sum")
        q_total = q_total + losses["q_continue_loss"]
    losses["loss"] = lm_loss + 0.5 * q_total
    return losses


# ------------------------------------------------------------------------------------------------
# optimizers


class AdamATan2(object):
    """imoneoi/adam_atan2 at HEAD: theta *= 1 - lr*wd; m, v lerps; theta -= lr/(1-b1^t) *
    atan2(m, sqrt(v)/sqrt(1-b2^t)). No epsilon."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1):
        self.params = [p for p in params]
        self.lr, self.b1, self.b2, self.wd = lr, betas[0], betas[1], weight_decay
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        bc1 = 1 - self.b1 ** self.t
        bc2_sqrt = math.sqrt(1 - self.b2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            p.mul_(1 - self.lr * self.wd)
            m.lerp_(g, 1 - self.b1)
            v.lerp_(g * g, 1 - self.b2)
            p.add_(torch.atan2(m, v.sqrt() / bc2_sqrt), alpha=-self.lr / bc1)

    def zero_grad(self):
        for p in self.params:
            p.grad = None


@torch.no_grad()
def sign_sgd_rows(weights, ids, grad_rows, lr, wd):
    """Sparse puzzle-embedding update: sum the gradients of duplicate ids, then
    w <- w*(1 - lr*wd) - lr*sign(g) on those rows only."""
    uniq, inv = torch.unique(ids.long(), return_inverse=True)
    g = torch.zeros(uniq.shape[0], grad_rows.shape[1], dtype=grad_rows.dtype)
    g.index_add_(0, inv, grad_rows)
    weights[uniq] = weights[uniq] * (1 - lr * wd) - lr * torch.sign(g)


def train_step(c, P, bufs, carry, batch, opt, rope, loss_type, pe_lr, pe_wd):
    """Forward (one supervision step), backward of loss/B, AdamATan2 + SignSGD."""
    carry, out = act_step(c, P, bufs, carry, batch, True, rope)
    losses = loss_head(c, carry, out, loss_type)
    (losses["loss"] / c.B).backward()
    opt.step()
    opt.zero_grad()
    if out["pe_rows"] is not None:
        sign_sgd_rows(bufs["puzzle_emb.weights"], carry["data"]["puzzle_identifiers"], out["pe_rows"].grad,
                      pe_lr, pe_wd)
    return carry, losses


# ------------------------------------------------------------------------------------------------
# --check: golden traces

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """numpy-only reader: {name: ndarray}, metadata."""
    import struct
    import numpy as np
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[info["dtype"]]), count=(e - b) // np.dtype(
            _DTYPES[info["dtype"]]).itemsize, offset=base + b)
        tensors[name] = arr.reshape(info["shape"])
    return tensors, meta


def rel_err(ours, ref):
    ours = ours.detach().to(torch.float64)
    ref = ref.to(torch.float64)
    if ours.shape != ref.shape:
        return float("inf")
    scale = ref.abs().max().item() if ref.numel() else 0.0
    diff = (ours - ref).abs().max().item() if ref.numel() else 0.0
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def check_trace(path, verbose=False):
    import numpy as np
    t, meta = read_safetensors(path)
    if meta.get("format") not in ("trm-trace/1", "trm-trace/2"):
        return False, "not a trm-trace file"
    if meta.get("mode") == "train-run":
        return False, "a training run (--check replays train and eval traces)"
    c = Cfg(json.loads(meta["config"]))
    loss_type = meta.get("loss_type", "stablemax_cross_entropy")
    train = meta.get("mode", "train") == "train"
    steps = int(meta["steps"])
    T = lambda k: torch.from_numpy(np.array(t[k]))  # noqa: E731  (copy: frombuffer is read-only)
    P = {k[len("params/inner."):]: T(k).float().requires_grad_(True)
         for k in t if k.startswith("params/inner.") and not any(
             k.endswith(b) for b in ("H_init", "L_init", "puzzle_emb.weights"))}
    bufs = {b: T("params/inner." + b).float() for b in ("H_init", "L_init")}
    bufs["puzzle_emb.weights"] = T("params/inner.puzzle_emb.weights").float() if c.pe_ndim > 0 else None
    missing = set(param_shapes(c)) ^ set(P)
    if missing:
        return False, "parameter names differ from the config's: %s" % sorted(missing)
    batch = {k: T("batch/" + k).long() for k in ("inputs", "labels", "puzzle_identifiers")}
    rope = rope_tables(c) if c.pos == "rope" and not c.mlp_t else None

    worst, where, problems = 0.0, "", []

    def cmp(name, ours, key):
        nonlocal worst, where
        if key not in t:
            problems.append("%s missing in trace" % key)
            return
        e = rel_err(ours, T(key))
        if verbose:
            print("  %-60s %.2e" % (key, e))
        if e > worst:
            worst, where = e, key
        if not e <= TOL:
            problems.append("%s rel err %.3g" % (key, e))

    carry = initial_carry(c, batch)
    for s in range(steps):
        if s > 0:  # teacher forcing: the recorded carry of step s-1
            p = "step/%d/" % (s - 1)
            carry = {"z_H": T(p + "z_H").float(), "z_L": T(p + "z_L").float(),
                     "steps": T(p + "steps").int(), "halted": T(p + "halted").bool(), "data": dict(batch)}
        for v in P.values():
            v.grad = None
        new, out = act_step(c, P, bufs, carry, batch, train, rope)
        losses = loss_head(c, new, out, loss_type)
        if train:
            losses["loss"].backward()
        p = "step/%d/" % s
        for k in ("logits", "q_halt_logits", "q_continue_logits", "target_q_continue"):
            if k in out:
                cmp(k, out[k], p + k)
        for k in ("loss", "lm_loss", "q_halt_loss", "q_continue_loss"):
            if k in losses:
                cmp(k, losses[k].reshape(1), p + k)
        cmp("z_H", new["z_H"], p + "z_H")
        cmp("z_L", new["z_L"], p + "z_L")
        for k in ("halted", "steps"):
            if not torch.equal(new[k].to(torch.int64), T(p + k).to(torch.int64)):
                problems.append("%s%s differs: %s vs %s" % (p, k, new[k].tolist(), T(p + k).tolist()))
        if train:
            for name, v in P.items():
                g = v.grad if v.grad is not None else torch.zeros_like(v)
                cmp(name, g, "grad/%d/inner.%s" % (s, name))
            if c.pe_ndim > 0:
                cmp("pe", out["pe_rows"].grad, "grad/%d/inner.puzzle_emb.local_weights" % s)
    what = "%d steps, %s, %s" % (steps, "train (logits, losses, carry, grads)" if train else "eval (logits, losses, carry)",
                                 "mlp_t" if c.mlp_t else "attention/" + c.pos)
    if problems:
        return False, "%s; %s" % (what, "; ".join(problems[:6]) + (" ..." if len(problems) > 6 else ""))
    return True, "%s; max rel err %.1e (%s)" % (what, worst, where)


def check_optimizer():
    """AdamATan2's first step is lr/(1-b1)*atan2((1-b1)g, |g|) = 0.99669*lr*sign(g) (b1=0.9, no
    decay); a second step against the formula evaluated in float64 by hand."""
    p = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = AdamATan2([p], lr=0.01, betas=(0.9, 0.95), weight_decay=0.5)
    g1, g2 = torch.tensor([0.3, -0.2, 0.0]), torch.tensor([-0.1, -0.4, 0.2])
    ref = [1.0, -2.0, 0.5]
    m, v = [0.0] * 3, [0.0] * 3
    for t, g in ((1, g1), (2, g2)):
        p.grad = g.clone()
        opt.step()
        for i in range(3):
            ref[i] *= 1 - 0.01 * 0.5
            m[i] += 0.1 * (float(g[i]) - m[i])
            v[i] += 0.05 * (float(g[i]) ** 2 - v[i])
            ref[i] -= 0.01 / (1 - 0.9 ** t) * math.atan2(m[i], math.sqrt(v[i]) / math.sqrt(1 - 0.95 ** t))
    err = max(abs(float(a) - b) for a, b in zip(p.detach(), ref))
    first = 0.01 / 0.1 * math.atan2(0.1, 1.0)  # = 0.0099669 for a unit-sign gradient
    return err < 1e-6 and abs(first - 0.0099669) < 1e-6, err


def run_check(paths, verbose):
    torch.set_num_threads(2)
    ok_all = True
    ok, err = check_optimizer()
    print("%-45s %s (AdamATan2 vs hand formula, err %.1e)" % ("optimizer self-check", "OK" if ok else "MISMATCH", err))
    ok_all &= ok
    if not paths:
        print("torch_step: --check needs at least one trace file", file=sys.stderr)
        return 2
    for path in paths:
        try:
            ok, msg = check_trace(path, verbose)
        except Exception as e:  # a malformed file is a failure, reported per file
            ok, msg = False, "%s: %s" % (type(e).__name__, e)
        print("%-45s %s (%s)" % (os.path.basename(path), "OK" if ok else "MISMATCH", msg))
        ok_all &= ok
    return 0 if ok_all else 1


# ------------------------------------------------------------------------------------------------
# timing

CONFIGS = {
    "small": dict(vocab_size=6, seq_len=16, batch_size=64, hidden_size=64, H_cycles=2, L_cycles=2, L_layers=2,
                  expansion=4, mlp_t=True, pos_encodings="none", puzzle_emb_ndim=64, puzzle_emb_len=1,
                  halt_max_steps=4, num_heads=8, num_puzzle_identifiers=1, halt_exploration_prob=0.1),
    "sudoku-paper": dict(vocab_size=11, seq_len=81, batch_size=16, hidden_size=512, H_cycles=3, L_cycles=6,
                         L_layers=2, expansion=4, mlp_t=True, pos_encodings="none", puzzle_emb_ndim=512,
                         puzzle_emb_len=16, halt_max_steps=16, num_heads=8, num_puzzle_identifiers=1,
                         halt_exploration_prob=0.1),
}
# (warm-up steps, measured steps); --quick uses the second pair
STEPS = {"small": ((3, 9), (1, 3)), "sudoku-paper": ((1, 5), (1, 2))}


def blas_in_use():
    """Which libblas.so.3 this process loaded (Debian picks it via update-alternatives)."""
    torch.matmul(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    except OSError:
        libs = set()
    if any("openblas" in l for l in libs):
        return "openblas"
    if any("mkl" in l for l in libs) or "mkl" in torch.__config__.show().lower().split("blas_info=")[-1][:8]:
        return "mkl"
    if any("blis" in l for l in libs):
        return "blis"
    if any("atlas" in l for l in libs):
        return "atlas"
    if libs:
        return "reference"
    info = torch.__config__.show()
    return "mkl" if "BLAS_INFO=mkl" in info else "unknown"


def time_one(name, threads, quick):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = Cfg(CONFIGS[name])
    P, bufs = init_model(c)
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, c.V, (c.B, c.S), generator=gen)
    batch = {"inputs": torch.randint(0, c.V, (c.B, c.S), generator=gen),
             "labels": torch.where(torch.rand(c.B, c.S, generator=gen) < 0.1, torch.full_like(labels, IGNORE), labels),
             "puzzle_identifiers": torch.zeros(c.B, dtype=torch.long)}
    opt = AdamATan2(P.values(), lr=1e-4, betas=(0.9, 0.95), weight_decay=1.0)
    rope = rope_tables(c) if c.pos == "rope" and not c.mlp_t else None
    carry = initial_carry(c, batch)
    warm, n = STEPS[name][1 if quick else 0]
    times, cpu = [], []
    for i in range(warm + n):
        t0, c0 = time.perf_counter(), time.process_time()
        carry, losses = train_step(c, P, bufs, carry, batch, opt, rope, "stablemax_cross_entropy", 1e-4, 1.0)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if not math.isfinite(float(losses["loss"])):
            raise RuntimeError("non-finite loss")
        if i >= warm:
            times.append(dt * 1000)
            cpu.append(dc * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    return {"config": name, "batch": c.B, "ms": round(statistics.median(times), 1),
            "peak_rss_mb": round(peak_mb, 1), "blas": blas_in_use(), "threads": threads,
            "steps_timed": n, "torch": torch.__version__, "cpu_ms": round(statistics.median(cpu), 1)}


def run_timing(args):
    rows = []
    for name in args.config or list(CONFIGS):
        # A child process per config: peak RSS (a process-wide high-water mark) is then per config.
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--threads", str(args.threads)]
        if args.quick:
            cmd.append("--quick")
        # OpenBLAS keeps its own thread pool (sized to all cores by default): pin it to --threads too.
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
        if r.returncode != 0:
            print("torch_step: config %s failed (exit %d)" % (name, r.returncode), file=sys.stderr)
            return 1
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    if args.json:
        keys = ("config", "batch", "ms", "peak_rss_mb", "blas")
        print(json.dumps({"train_step": [{k: row[k] for k in keys} for row in rows]}))
    else:
        load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
        print("PyTorch %s, %d threads, BLAS %s, load average %.2f %.2f %.2f"
              % (rows[0]["torch"], args.threads, rows[0]["blas"], load[0], load[1], load[2]))
        print("%-14s %6s %12s %16s %14s %6s" % ("config", "batch", "ms/step", "CPU ms/step", "peak RSS MiB",
                                                 "timed"))
        for row in rows:
            print("%-14s %6d %12.1f %16.1f %14.1f %6d" % (row["config"], row["batch"], row["ms"], row["cpu_ms"],
                                                         row["peak_rss_mb"], row["steps_timed"]))
        print("(ms/step: median wall time of forward + backward + optimizer after warm-up; CPU ms/step: "
              "process CPU time over all threads; wall > CPU/threads means the cores were shared)")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="TRM training step in PyTorch: golden-trace check and timing.")
    ap.add_argument("--check", nargs="*", metavar="TRACE", help="replay trace files (train and eval) and compare")
    ap.add_argument("--verbose", action="store_true", help="with --check: every compared tensor's error")
    ap.add_argument("--json", action="store_true", help="timing as one JSON object")
    ap.add_argument("--quick", action="store_true", help="fewer timed steps")
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS), help="timing config (repeatable)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if torch is None:
        print("torch_step: this python (%s) cannot import torch; on Debian: apt-get install python3-torch "
              "python3-numpy libopenblas0-pthread, then use /usr/bin/python3" % sys.executable, file=sys.stderr)
        return 2
    if args.one:
        print(json.dumps(time_one(args.one, args.threads, args.quick)))
        return 0
    if args.check is not None:
        return run_check(args.check, args.verbose)
    return run_timing(args)


if __name__ == "__main__":
    sys.exit(main())
