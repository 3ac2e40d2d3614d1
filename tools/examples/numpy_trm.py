#!/usr/bin/env python3
"""A second TRM, in plain NumPy: the forward pass in evaluation mode, written from the paper and
the official semantics (docs/paper-to-code.md), and checked against trm-ts's reference traces with
tools/trm_check.py. It exists to prove the cross-check path end to end for an implementation laid
out nothing like the official code: its own names, its own loops, another language.

Covered: self-attention with RoPE, learned or no position encodings; the MLP-t variant (a SwiGLU
across the sequence in place of attention); the puzzle-embedding prefix; any T, n and layer count.

    python3 tools/examples/numpy_trm.py REFERENCE --out CANDIDATE [--free-running]
    python3 tools/trm_check.py REFERENCE CANDIDATE

By default every supervision step starts from the reference's recorded carry (teacher forcing,
as `trm crosscheck` does), so each step is checked on its own.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import trm_check  # noqa: E402

f32 = np.float32


# ------------------------------------------------------------------------------------------------
# the pieces

def rms_norm(h, eps):
    """h / sqrt(mean(h^2) + eps) over the last axis (no learned scale), in float32."""
    return (h / np.sqrt(np.mean(np.square(h), axis=-1, keepdims=True) + f32(eps))).astype(f32)


def swiglu(h, w_gate_up, w_down):
    """down(silu(gate) * up), gate and up the two halves of one projection."""
    gate, up = np.split(h @ w_gate_up.T, 2, axis=-1)
    return ((gate / (f32(1) + np.exp(-gate))) * up) @ w_down.T


def rope_tables(length, head_dim, theta):
    """cos, sin [length, head_dim] of rotary embeddings (frequencies repeated for both halves)."""
    inv_freq = f32(1) / (f32(theta) ** (np.arange(0, head_dim, 2, dtype=f32) / f32(head_dim)))
    angles = np.outer(np.arange(length, dtype=f32), inv_freq)
    both = np.concatenate([angles, angles], axis=-1)
    return np.cos(both).astype(f32), np.sin(both).astype(f32)


def rotate(x, cos, sin):
    """x * cos + rotate_half(x) * sin, rotate_half([a, b]) = [-b, a] over the head dimension."""
    a, b = np.split(x, 2, axis=-1)
    return x * cos + np.concatenate([-b, a], axis=-1) * sin


def attention(h, w_qkv, w_out, heads, rope):
    """Non-causal multi-head self-attention; the projection's rows are q, k, v, heads in order."""
    B, L, _ = h.shape
    q, k, v = np.split((h @ w_qkv.T).reshape(B, L, 3, heads, -1), 3, axis=2)
    q, k, v = (t[:, :, 0].transpose(0, 2, 1, 3) for t in (q, k, v))  # [B, heads, L, head_dim]
    if rope is not None:
        q, k = rotate(q, *rope), rotate(k, *rope)
    scores = (q @ k.transpose(0, 1, 3, 2)) / f32(math.sqrt(q.shape[-1]))
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    out = (scores / scores.sum(axis=-1, keepdims=True)) @ v
    return out.transpose(0, 2, 1, 3).reshape(B, L, -1) @ w_out.T


class TinyNet(object):
    """The one tiny network: its blocks applied to state + injection (post-norm residuals)."""

    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params
        self.layers = int(cfg["L_layers"])
        D, heads = int(cfg["hidden_size"]), int(cfg["num_heads"])
        self.heads = heads
        self.rope = None
        if cfg["pos_encodings"] == "rope" and not cfg["mlp_t"]:
            self.rope = rope_tables(total_len(cfg), D // heads, float(cfg["rope_theta"]))

    def w(self, i, name):
        return self.p["inner.L_level.layers.%d.%s" % (i, name)]

    def block(self, i, h):
        eps = float(self.cfg["rms_norm_eps"])
        if self.cfg["mlp_t"]:  # mix along the sequence: the SwiGLU sees [B, D, L]
            ht = h.transpose(0, 2, 1)
            h = rms_norm(ht + swiglu(ht, self.w(i, "mlp_t.gate_up_proj.weight"), self.w(i, "mlp_t.down_proj.weight")),
                         eps).transpose(0, 2, 1)
        else:
            h = rms_norm(h + attention(h, self.w(i, "self_attn.qkv_proj.weight"), self.w(i, "self_attn.o_proj.weight"),
                                       self.heads, self.rope), eps)
        return rms_norm(h + swiglu(h, self.w(i, "mlp.gate_up_proj.weight"), self.w(i, "mlp.down_proj.weight")), eps)

    def __call__(self, state, injection):
        h = state + injection
        for i in range(self.layers):
            h = self.block(i, h)
        return h


# ------------------------------------------------------------------------------------------------
# the model

def prefix_len(cfg):
    if int(cfg["puzzle_emb_len"]) > 0:
        return int(cfg["puzzle_emb_len"])
    return -(-int(cfg["puzzle_emb_ndim"]) // int(cfg["hidden_size"]))


def total_len(cfg):
    return prefix_len(cfg) + int(cfg["seq_len"])


def embed(cfg, p, inputs, puzzle_ids):
    """x: token embeddings after the puzzle prefix, with learned positions, times sqrt(D)."""
    D = int(cfg["hidden_size"])
    x = p["inner.embed_tokens.embedding_weight"][inputs]
    P = prefix_len(cfg)
    if P > 0:
        ndim = int(cfg["puzzle_emb_ndim"])
        rows = p["inner.puzzle_emb.weights"][puzzle_ids] if ndim > 0 else np.zeros((len(inputs), 0), f32)
        prefix = np.concatenate([rows, np.zeros((len(inputs), P * D - ndim), f32)], axis=1)
        x = np.concatenate([prefix.reshape(len(inputs), P, D), x], axis=1)
    if cfg["pos_encodings"] == "learned":
        x = f32(0.707106781) * (x + p["inner.embed_pos.embedding_weight"])
    return (f32(math.sqrt(D)) * x).astype(f32)


def supervision_step(cfg, p, net, x, y, z, out, s):
    """T cycles of: n times z <- net(z, y + x), then y <- net(y, z). Records every update."""
    for c in range(int(cfg["H_cycles"])):
        for i in range(int(cfg["L_cycles"])):
            z = net(z, y + x)
            out["step/%d/cycle/%d/z_L/%d" % (s, c, i)] = z
        y = net(y, z)
        out["step/%d/cycle/%d/z_H" % (s, c)] = y
    logits = y[:, prefix_len(cfg):] @ p["inner.lm_head.weight"].T
    q = y[:, 0] @ p["inner.q_head.weight"].T + p["inner.q_head.bias"]
    return y, z, logits, q


def run(ref, teacher_forced=True):
    """Every supervision step of an eval reference: {trace name: array}, as the trace names them."""
    cfg = ref.config
    p = {k: np.asarray(v, dtype=f32) for k, v in ref.params.items()}
    net = TinyNet(cfg, p)
    inputs, puzzle_ids = ref.batch["inputs"].astype(np.int64), ref.batch["puzzle_identifiers"].astype(np.int64)
    B, L, D, n_sup = len(inputs), total_len(cfg), int(cfg["hidden_size"]), int(cfg["halt_max_steps"])
    y = np.broadcast_to(p["inner.H_init"], (B, L, D)).astype(f32)
    z = np.broadcast_to(p["inner.L_init"], (B, L, D)).astype(f32)
    steps = np.zeros(B, np.int32)
    halted = np.ones(B, bool)
    out = {}
    for s in range(ref.steps):
        if s > 0 and teacher_forced:
            y, z = ref.expected["step/%d/z_H" % (s - 1)], ref.expected["step/%d/z_L" % (s - 1)]
            steps = ref.expected["step/%d/steps" % (s - 1)].astype(np.int32)
            halted = ref.expected["step/%d/halted" % (s - 1)].astype(bool)
        # Halted rows restart from the initial state.
        y = np.where(halted[:, None, None], p["inner.H_init"], y).astype(f32)
        z = np.where(halted[:, None, None], p["inner.L_init"], z).astype(f32)
        steps = np.where(halted, 0, steps)
        x = embed(cfg, p, inputs, puzzle_ids)
        out["step/%d/x" % s] = x
        y, z, logits, q = supervision_step(cfg, p, net, x, y, z, out, s)
        steps = steps + 1
        halted = steps >= n_sup  # evaluation: every row runs N_sup steps
        out.update({"step/%d/z_H" % s: y, "step/%d/z_L" % s: z, "step/%d/logits" % s: logits,
                    "step/%d/q_halt_logits" % s: q[:, 0], "step/%d/q_continue_logits" % s: q[:, 1],
                    "step/%d/halted" % s: halted.astype(np.uint8), "step/%d/steps" % s: steps.astype(np.int32)})
    return out


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("reference", help="an eval trace (npx trm trace --mode eval ...)")
    a.add_argument("--out", required=True, help="the candidate trace to write")
    a.add_argument("--free-running", action="store_true", help="carry our own state from step to step")
    args = a.parse_args(argv)
    try:
        ref = trm_check.load_reference(args.reference)
    except trm_check.TraceError as e:
        print("numpy_trm: %s" % e, file=sys.stderr)
        return 2
    if ref.mode != "eval":
        print("numpy_trm: %s: an eval trace is needed (mode %s)" % (args.reference, ref.mode), file=sys.stderr)
        return 2
    out = run(ref, teacher_forced=not args.free_running)
    trm_check.write_safetensors(args.out, dict(out, **{"params/" + k: v for k, v in ref.params.items()}),
                                {"format": "trm-trace/2", "config": ref.metadata["config"], "mode": "eval",
                                 "steps": str(ref.steps), "loss_type": ref.metadata.get("loss_type", ""),
                                 "recorder": "tools/examples/numpy_trm.py"})
    print("wrote %s: %d tensors" % (args.out, len(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
