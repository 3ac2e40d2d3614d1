#!/usr/bin/env python3
"""Record a trace from olivkoch/nano-trm, in its own names, on the weights and data of a reference.

nano-trm (https://github.com/olivkoch/nano-trm) is a PyTorch + Lightning port of TRM. This script
runs its model code, unchanged, on the weights and batches of a reference trace that trm-ts wrote
in nano-trm's names, and writes what nano-trm computed as a trace in the same names:

    git clone https://github.com/olivkoch/nano-trm && git -C nano-trm checkout fc4436c
    npx trm trace --config CFG --mode train --layout tools/ports/nano-trm.yaml --out ref.safetensors
    python3 tools/ports/record_nano_trm.py --repo nano-trm --reference ref.safetensors --out nano.safetensors
    python3 tools/trm_check.py ref.safetensors nano.safetensors      # the port against trm-ts
    npx trm crosscheck nano.safetensors                              # trm-ts replays the port

The layout map (tools/ports/nano-trm.yaml) travels in the trace's metadata, so `trm crosscheck`
reads nano-trm's names without being told.

What runs, by mode (the reference's):
  eval       nano-trm's TRMModule.compute_loss_and_metrics in eval mode, `steps` times on the batch;
  train      the same in train mode, loss.backward() after each step, every gradient recorded;
  train-run  TRMModule.training_step on each batch in turn, with the optimizers of its own
             configure_optimizers (AdamATan2 and its SignSGD): gradient clipping, its learning-rate
             schedule and its weight decays included. Its exploration draws are replaced by the
             reference's (`step/<s>/min_halt_steps`), as a trm-ts replay does.

Stand-ins, installed at runtime (the checkout is never modified) and listed in the metadata key
`stand_ins`: torch < 2 lacks nn.Buffer, F.scaled_dot_product_attention, ParamsT and the bare
@torch.no_grad (the shims of tools/export_trace.py); Lightning's LightningModule is an nn.Module
that keeps its constructor's arguments in `hparams`; sklearn, einops and nano-trm's logging
helpers (src.nn.utils) are replaced by what the model code uses of them, and its Muon optimizer
(torch.compile) by a class that refuses to run; the `adam_atan2` package,
whose kernel is CUDA only, is the transcription in tools/export_trace.py.

Needs numpy and torch (Debian's python3-torch 1.13 works). Exit codes: 0 written, 2 bad input.
"""

import argparse
import contextlib
import inspect
import json
import logging
import os
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import trm_check  # noqa: E402  (tools/trm_check.py: the safetensors reader and writer)

DATA_KINDS = ("inputs", "labels", "puzzle_identifiers")
METRIC_KINDS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")


class UsageError(Exception):
    pass


def f32(t):
    return t.detach().to("cpu").float().numpy().copy()


def f64(x):
    return np.array([float(x)], dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# stand-ins

class AttributeDict(dict):
    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k)


def install_stand_ins(torch, repo):
    """Modules nano-trm imports that a CPU recording does not need, and torch 1.13's gaps."""
    import export_trace  # tools/export_trace.py

    shims, long_ids, restore = export_trace.install_shims(torch)
    applied = [shims]

    lightning = types.ModuleType("lightning")

    class LightningModule(torch.nn.Module):
        """The parts of Lightning's LightningModule the model code calls."""

        def save_hyperparameters(self):
            frame = inspect.currentframe().f_back
            args = {k: v for k, v in frame.f_locals.items() if k not in ("self", "__class__")}
            self.hparams = AttributeDict(args)

        def optimizers(self):
            raise RuntimeError("no trainer")  # training_step then uses self._optimizers

        def log(self, *a, **k):
            pass

    lightning.LightningModule = LightningModule
    sys.modules["lightning"] = lightning
    applied.append("lightning.LightningModule=nn.Module+hparams")

    sklearn = types.ModuleType("sklearn")
    sklearn.metrics = types.ModuleType("sklearn.metrics")
    sys.modules["sklearn"] = sklearn
    sys.modules["sklearn.metrics"] = sklearn.metrics
    applied.append("sklearn (unused)")

    utils = types.ModuleType("src.nn.utils")
    utils.__path__ = [os.path.join(repo, "src", "nn", "utils")]  # src.nn.utils.constants loads from the checkout
    utils.RankedLogger = lambda name, rank_zero_only=False: logging.getLogger(name)
    sys.modules["src.nn.utils"] = utils
    applied.append("src.nn.utils.RankedLogger=logging")

    muon = types.ModuleType("src.nn.optimizers.muon")  # needs torch.compile (torch >= 2); use_muon is off

    class Muon(object):
        def __init__(self, *a, **k):
            raise NotImplementedError("Muon is not part of this recording")

    muon.Muon = Muon
    sys.modules["src.nn.optimizers.muon"] = muon
    applied.append("src.nn.optimizers.muon (unused)")

    sys.modules["adam_atan2"] = export_trace.make_adam_atan2_module(torch)
    applied.append("adam_atan2=" + export_trace.ADAM_NOTE)
    return "; ".join(applied), long_ids, restore


def import_nano(torch, repo):
    if not os.path.isfile(os.path.join(repo, "src", "nn", "models", "trm.py")):
        raise UsageError("--repo %s: no src/nn/models/trm.py (not a nano-trm checkout?)" % repo)
    sys.path.insert(0, os.path.abspath(repo))
    for name in list(sys.modules):
        if name == "src" or name.startswith("src."):
            del sys.modules[name]
    stand_ins, long_ids, restore = install_stand_ins(torch, os.path.abspath(repo))
    with contextlib.redirect_stdout(sys.stderr):  # it prints while importing
        import src.nn.models.trm as nano  # noqa: E402

    for undo in restore:
        undo()
    return nano, stand_ins, long_ids


def repo_source(repo):
    try:
        sha = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain"], capture_output=True, text=True,
                               check=True).stdout.strip()
        return "olivkoch/nano-trm@%s%s" % (sha, "+local-changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "olivkoch/nano-trm@unknown"


# ------------------------------------------------------------------------------------------------
# the model

def build_model(torch, nano, cfg, train):
    """nano-trm's TRMModule for an official config; refuses what nano-trm cannot express."""
    if cfg.get("pos_encodings", "rope") == "learned":
        raise UsageError("config.pos_encodings: nano-trm has no learned position embedding (rope or none)")
    D = int(cfg["hidden_size"])
    ndim = int(cfg.get("puzzle_emb_ndim", 0))
    plen = int(cfg.get("puzzle_emb_len", 0) or 0)
    if ndim > 0 and plen == 0:
        plen = -(ndim // -D)  # the official default: ceil(puzzle_emb_ndim / hidden_size)
    train = train or {}
    model = nano.TRMModule(
        hidden_size=D,
        num_layers=int(cfg["L_layers"]),
        num_heads=int(cfg["num_heads"]),
        H_cycles=int(cfg["H_cycles"]),
        L_cycles=int(cfg["L_cycles"]),
        N_supervision=int(cfg["halt_max_steps"]),
        N_supervision_val=int(cfg["halt_max_steps"]),
        ffn_expansion=float(cfg["expansion"]),
        learning_rate=float(train.get("lr", 1e-4)),
        learning_rate_emb=float(train.get("puzzle_emb_lr", 1e-2)),
        weight_decay=float(train.get("weight_decay", 0.01)),
        warmup_steps=int(train.get("lr_warmup_steps", 0)),
        lr_min_ratio=float(train.get("lr_min_ratio", 1.0)),
        halt_exploration_prob=float(cfg.get("halt_exploration_prob", 0.0)),
        puzzle_emb_dim=ndim,
        puzzle_emb_len=plen if ndim > 0 else 0,
        rope_theta=int(cfg.get("rope_theta", 10000)),
        pos_emb_type="1d" if cfg.get("pos_encodings", "rope") == "rope" else "none",
        use_mlp_t=bool(cfg.get("mlp_t", False)),
        vocab_size=int(cfg["vocab_size"]),
        num_puzzles=int(cfg.get("num_puzzle_identifiers", 1)),
        batch_size=int(cfg["batch_size"]),
        seq_len=int(cfg["seq_len"]),
        forward_dtype=torch.float32,
    )
    if abs(float(cfg.get("rms_norm_eps", 1e-5)) - 1e-5) > 0:
        print("record_nano_trm: note: nano-trm's RMS norm eps is 1e-5; the config says %s"
              % cfg.get("rms_norm_eps"), file=sys.stderr)
    return model


def load_weights(torch, model, params, path):
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in params.items()}
    want = set(model.state_dict())
    have = set(state)
    if want != have:
        missing, extra = sorted(want - have), sorted(have - want)
        raise UsageError("%s: params/: not nano-trm's names (missing %s; unexpected %s). Write the reference with "
                         "`trm trace --layout tools/ports/nano-trm.yaml`" % (path, missing[:4], extra[:4]))
    for k, v in model.state_dict().items():
        if tuple(v.shape) != tuple(state[k].shape):
            raise UsageError("%s: params/%s: shape %s, nano-trm's is %s"
                             % (path, k, list(state[k].shape), list(v.shape)))
    model.load_state_dict(state, strict=True)


def nano_batch(torch, b, long_ids):
    ids = torch.int64 if long_ids else torch.int32
    return {
        "input": torch.from_numpy(np.array(b["inputs"], dtype=np.int64)),
        "output": torch.from_numpy(np.array(b["labels"], dtype=np.int64)),
        "puzzle_identifiers": torch.from_numpy(np.array(b["puzzle_identifiers"], dtype=np.int64)).to(ids),
    }


class Probes:
    """The recursion's intermediates, in the order computed: x, then per cycle n latent updates and
    one answer update (each a call of nano-trm's `lenet`)."""

    def __init__(self, model, cfg):
        self.model = model
        self.n = int(cfg["L_cycles"])
        self.calls = []
        self.x = None
        lenet_forward = model.lenet.forward
        embed = model._input_embeddings

        def lenet(*a, **k):
            out = lenet_forward(*a, **k)
            self.calls.append(f32(out))
            return out

        def inputs(*a, **k):
            out = embed(*a, **k)
            self.x = f32(out)
            return out

        model.lenet.forward = lenet
        model._input_embeddings = inputs

    def start(self):
        self.calls = []
        self.x = None

    def write(self, tensors, pre):
        tensors[pre + "x"] = self.x
        per = self.n + 1
        for c in range(len(self.calls) // per):
            for i in range(self.n):
                tensors[pre + "cycle/%d/z_L/%d" % (c, i)] = self.calls[c * per + i]
            tensors[pre + "cycle/%d/z_H" % c] = self.calls[c * per + self.n]


def capture_outputs(model):
    """Wraps TRMModule.forward and compute_loss_and_metrics to keep what they return."""
    seen = {}
    forward = model.forward
    compute = model.compute_loss_and_metrics

    def fwd(carry, batch):
        new_carry, outputs = forward(carry, batch)
        seen["outputs"] = outputs
        return new_carry, outputs

    def loss(carry, batch):
        out = compute(carry, batch)
        seen["carry"], seen["loss"], seen["metrics"] = out[0], out[1], out[2]
        return out

    model.forward = fwd
    model.compute_loss_and_metrics = loss
    return seen


def write_step(tensors, pre, seen):
    carry, out, metrics = seen["carry"], seen["outputs"], seen["metrics"]
    tensors[pre + "z_H"] = f32(carry.inner_carry.z_H)
    tensors[pre + "z_L"] = f32(carry.inner_carry.z_L)
    tensors[pre + "logits"] = f32(out["logits"])
    tensors[pre + "q_halt_logits"] = f32(out["q_halt_logits"])
    tensors[pre + "halted"] = carry.halted.numpy().astype(np.uint8)
    tensors[pre + "steps"] = carry.steps.numpy().astype(np.int32)
    tensors[pre + "loss"] = f64(seen["loss"].detach().double())
    tensors[pre + "lm_loss"] = f64(metrics["lm_loss"].double())
    tensors[pre + "q_halt_loss"] = f64(metrics["q_halt_loss"].double())


# ------------------------------------------------------------------------------------------------
# recording

def record_steps(torch, model, ref, batch, probes, seen, tensors):
    """train / eval: `steps` calls of compute_loss_and_metrics on one batch from the initial carry."""
    train = ref.mode == "train"
    model.train(train)
    params = list(model.named_parameters())
    pe = model.puzzle_emb
    carry = model.initial_carry(batch)
    for s in range(ref.steps):
        for _, p in params:
            p.grad = None
        if pe is not None:
            pe.local_weights.grad = None
        probes.start()
        if train:
            carry, loss, _, _ = model.compute_loss_and_metrics(carry, batch)
            loss.backward()
        else:
            with torch.no_grad():
                carry, loss, _, _ = model.compute_loss_and_metrics(carry, batch)
        pre = "step/%d/" % s
        probes.write(tensors, pre)
        write_step(tensors, pre, seen)
        if train:
            for name, p in params:
                tensors["grad/%d/%s" % (s, name)] = f32(p.grad if p.grad is not None else torch.zeros_like(p))
            if pe is not None:
                g = pe.local_weights.grad
                tensors["grad/%d/puzzle_emb.local_weights" % s] = f32(
                    g if g is not None else torch.zeros_like(pe.local_weights))


class Draws:
    """torch.rand_like / torch.randint_like during one training step, giving back the reference's
    exploration draws: (rand < p) · randint(2, N_sup + 1) equals min_halt_steps."""

    def __init__(self, torch):
        self.torch = torch
        self.min_steps = None
        self.rand_like, self.randint_like = torch.rand_like, torch.randint_like

    def __enter__(self):
        torch, want = self.torch, self.min_steps

        def rand_like(t, *a, **k):
            return torch.where(want > 0, torch.zeros_like(t), torch.ones_like(t))

        def randint_like(t, *a, **k):
            low = k.get("low", a[0] if len(a) > 1 else 0)
            return torch.where(want > 0, want.to(t.dtype), torch.full_like(t, low))

        torch.rand_like, torch.randint_like = rand_like, randint_like
        return self

    def __exit__(self, *exc):
        self.torch.rand_like, self.torch.randint_like = self.rand_like, self.randint_like


def record_train_run(torch, model, ref, train, long_ids, probes, seen, tensors):
    """`steps` calls of TRMModule.training_step with its own optimizers."""
    if train.get("ema"):
        raise UsageError("%s: __metadata__.train.ema: nano-trm's EMA is a Lightning callback this recorder does "
                         "not run; record the reference without EMA" % ref.path)
    model.train(True)
    model.total_steps = int(train["total_steps"])
    opts = model.configure_optimizers()
    model._optimizers = opts
    names = {id(p): n for n, p in model.named_parameters()}
    step_seen = {}

    def watch(opt, kind):
        step = opt.step

        def wrapped(*a, **k):
            lr = opt.param_groups[0]["lr"]
            if kind == "adam":
                step_seen["lr"] = lr
                for group in opt.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            step_seen["grad/" + names[id(p)]] = f32(p.grad)
            else:
                step_seen["puzzle_emb_lr"] = lr
                g = model.puzzle_emb.local_weights.grad
                if g is not None:
                    step_seen["grad/puzzle_emb.local_weights"] = f32(g)
            return step(*a, **k)

        opt.step = wrapped

    watch(opts[0], "adam")
    if len(opts) > 1:
        watch(opts[1], "sparse")
    draws = Draws(torch)
    for s in range(ref.steps):
        batch = nano_batch(torch, ref.batches[s], long_ids)
        step_seen.clear()
        probes.start()
        want = ref.expected.get("step/%d/min_halt_steps" % s)
        draws.min_steps = torch.from_numpy(np.array(want if want is not None else np.zeros(len(batch["input"])),
                                                    dtype=np.int64)).to(torch.int32)
        with draws:
            model.training_step(batch, s)
        pre = "step/%d/" % s
        probes.write(tensors, pre)
        write_step(tensors, pre, seen)
        data = seen["carry"].current_data
        for ours, theirs in zip(DATA_KINDS, ("input", "output", "puzzle_identifiers")):
            tensors[pre + "data/" + ours] = data[theirs].numpy().astype(np.int32)
        tensors[pre + "min_halt_steps"] = draws.min_steps.numpy().astype(np.int32)
        tensors[pre + "lr"] = f64(step_seen["lr"])
        if "puzzle_emb_lr" in step_seen:
            tensors[pre + "puzzle_emb_lr"] = f64(step_seen["puzzle_emb_lr"])
        for k in METRIC_KINDS:
            tensors[pre + "metrics/" + k] = f64(seen["metrics"][k].double())
        for k, v in step_seen.items():
            if k.startswith("grad/"):
                tensors["grad/%d/%s" % (s, k[len("grad/"):])] = v
        for name, p in model.named_parameters():
            tensors["update/%d/params/%s" % (s, name)] = f32(p)
            st = opts[0].state.get(p, {})
            if "exp_avg" in st:
                tensors["update/%d/exp_avg/%s" % (s, name)] = f32(st["exp_avg"])
                tensors["update/%d/exp_avg_sq/%s" % (s, name)] = f32(st["exp_avg_sq"])
        if model.puzzle_emb is not None:
            tensors["update/%d/params/puzzle_emb.weights" % s] = f32(model.puzzle_emb.weights)


def run(a):
    try:
        ref = trm_check.load_reference(a.reference)
    except trm_check.TraceError as e:
        raise UsageError(str(e))
    if "layout" not in ref.metadata:
        raise UsageError("%s: __metadata__.layout: missing; write the reference in nano-trm's names with "
                         "`trm trace --layout tools/ports/nano-trm.yaml`" % a.reference)
    import torch

    torch.manual_seed(0)
    nano, stand_ins, long_ids = import_nano(torch, a.repo)
    train = json.loads(ref.metadata.get("train", "{}"))
    with contextlib.redirect_stdout(sys.stderr):  # and while building the model
        model = build_model(torch, nano, ref.config, train if ref.mode == "train-run" else None)
    load_weights(torch, model, ref.params, a.reference)
    if long_ids and model.puzzle_emb is not None:  # torch < 2 indexes with int64 only (SignSGD's weights[ids])
        model.puzzle_emb.local_ids = model.puzzle_emb.local_ids.long()
        stand_ins += "; puzzle_emb.local_ids int64"
    probes = Probes(model, ref.config)
    seen = capture_outputs(model)
    tensors = dict(ref.inputs)
    if ref.mode == "train-run":
        record_train_run(torch, model, ref, train, long_ids, probes, seen, tensors)
    else:
        record_steps(torch, model, ref, nano_batch(torch, ref.batch, long_ids), probes, seen, tensors)
    keep = ("format", "config", "loss_type", "mode", "steps", "train", "layout", "case", "seed")
    meta = {k: v for k, v in ref.metadata.items() if k in keep}
    meta.update({
        "recorder": "tools/ports/record_nano_trm.py",
        "source": repo_source(a.repo),
        "torch_version": torch.__version__,
        "stand_ins": stand_ins,
        "init": "the weights and batches of %s" % os.path.basename(a.reference),
        "probes": "updates",
    })
    if ref.mode == "train-run":
        meta["loop"] = ("TRMModule.training_step with its configure_optimizers; exploration draws from the "
                        "reference's min_halt_steps")
    trm_check.write_safetensors(a.out, tensors, meta)
    print("wrote %s: nano-trm %s, %d steps, %d tensors" % (a.out, ref.mode, ref.steps, len(tensors)))


def main(argv=None):
    p = argparse.ArgumentParser(description="Record a trace from olivkoch/nano-trm on a reference's weights and data.")
    p.add_argument("--repo", required=True, help="a checkout of olivkoch/nano-trm")
    p.add_argument("--reference", required=True,
                   help="a trace in nano-trm's names: trm trace --layout tools/ports/nano-trm.yaml")
    p.add_argument("--out", required=True, help="the trace to write (.safetensors)")
    a = p.parse_args(argv)
    try:
        run(a)
    except UsageError as e:
        print("record_nano_trm: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
