#!/usr/bin/env python3
"""Record a trm-trace/2 file from the official TinyRecursiveModels code.

Point it at your own checkout of SamsungSAILMontreal/TinyRecursiveModels; it builds the official
model (ACT wrapper + ACTLossHead, float32 forward, CPU), runs a few supervision steps on one random
batch (or, with --mode train-run, a few optimizer steps of the official training loop on a
sequence of random batches) and writes every tensor listed in docs/trace-format.md, every update
of the recursion included, to a safetensors file that `npx trm crosscheck FILE` replays.

    python3 tools/export_trace.py --repo ~/src/TinyRecursiveModels --out my.safetensors \
        --config '{"hidden_size": 32, "num_heads": 2, "mlp_t": true, "pos_encodings": "none"}' \
        --seed 7 --mode train --steps 5

Options (all but --repo and --out are optional):
  --config JSON|FILE     model config with the official field names (JSON text, a .json file, or a
                         .yaml file such as a run's all_config.yaml if PyYAML is installed; its
                         `arch` section is used when present). Missing fields take small defaults
                         (see DEFAULT_CONFIG). forward_dtype is forced to float32 and
                         halt_exploration_prob to 0 (a trace must be deterministic).
  --seed N               torch.manual_seed(N) before the official init (default 0).
  --mode train|eval|train-run
                         train: Q-head halting, gradients recorded; eval: halt_max_steps steps;
                         train-run: K calls of the official pretrain.train_batch + EMAHelper.update,
                         each on the next batch, recording the learning rates, exploration draws,
                         scaled gradients, parameters, AdamATan2 moments, puzzle table and EMA.
  --exploration P, --ema, --train JSON|FILE, --shadow
                         train-run only: exploration probability, EMA on, training fields, and a
                         float64 shadow of every step (docs/crosscheck.md, "Train-run traces").
  --blocks               also record every block's output inside every update.
  --layout MAP           write the trace in a port's own names and layouts, by a layout map run
                         backwards (docs/crosscheck.md, "Layout maps"); the map is kept in the
                         metadata key `layout`, so `npx trm crosscheck` reads the file as it is.
  --steps S              supervision steps to record (default halt_max_steps + 1, so a restart
                         after the first forced halt is recorded too).
  --loss NAME            stablemax_cross_entropy (default) or softmax_cross_entropy.
  --batch-size B         overrides the config's batch_size.
  --case NAME            free-form name stored in the metadata.
  --q-bias H,C           q_head.bias after init (default auto: picked so about half the rows halt early; or two numbers, e.g. -0.25,0).
  --no-perturb           keep the pure official init (zero puzzle embedding, q_head weight 0 and
                         bias -5: no row ever halts before halt_max_steps in train mode).
  --init-from TRACE      take params and batch (and, unless given, config/loss/mode/steps/seed)
                         from an existing trm-trace/1 file instead of drawing them: re-records a
                         trace with the official code, e.g. to check a golden file.

Recipe (deterministic for a given torch build; all draws from the global torch RNG, in this order):
  1. torch.manual_seed(seed); model = ACTLossHead(TinyRecursiveReasoningModel_ACTV1(config)):
     the official init (truncated LeCun normal, q_head weight 0 / bias -5, puzzle embedding 0,
     H_init/L_init).
  2. Perturbation, as the golden traces do (unless --no-perturb): puzzle_emb.weights = 0.5 * N(0,1)
     (the official zero init would hide the puzzle-prefix path), q_head.weight = 0.05 * N(0,1),
     q_head.bias = --q-bias. With the official q_head init q_halt = -5 everywhere, so train-mode
     halting by the Q head would never be exercised.
  3. Batch: inputs ~ U{0..vocab-1} [B, seq_len]; labels ~ U{0..vocab-1} with each label set to -100
     with probability 0.25 and column 0 always -100; puzzle_identifiers ~ U{0..num_ids-1} [B].
  4. Starting from model.initial_carry(batch), `steps` calls of the loss head, each fed the same batch;
     in train mode loss.backward() after every call (gradient of that step's total loss, not divided
     by the batch size) and the gradients are recorded, then zeroed. Eval mode runs under no_grad.

Only numpy and torch are needed. The checkout is never modified: shims are installed at runtime
(and recorded in the metadata key `shims`) only where this torch lacks something the official code
uses (torch < 2.x: nn.Buffer, F.scaled_dot_product_attention, torch.optim.optimizer.ParamsT,
bare @torch.no_grad; plus einops / pydantic stand-ins when those packages are missing; int64 ids
where the torch cannot index with int32). Two crashes of the official code are patched, only when the
config reaches them (metadata key `patch`): the 5-way unpack in ACTV1.forward with
no_ACT_continue=False (patched copy of trm.py compiled in memory), and softmax_cross_entropy's
missing valid_mask argument / non-contiguous logits (wrapper around the official function).
"""

import argparse
import inspect
import json
import math
import os
import re
import struct
import subprocess
import sys
import types

try:
    import numpy as np
except ImportError:  # --help works without numpy; recording needs it
    np = None

FORMAT = "trm-trace/2"
READABLE_FORMATS = ("trm-trace/1", "trm-trace/2")

# Small defaults so a trace stays small; every field can be overridden by --config.
DEFAULT_CONFIG = {
    "batch_size": 3,
    "seq_len": 20,
    "puzzle_emb_ndim": None,  # None: = hidden_size, as config/arch/trm.yaml does
    "num_puzzle_identifiers": 5,
    "vocab_size": 12,
    "H_cycles": 2,
    "L_cycles": 2,
    "H_layers": 0,
    "L_layers": 2,
    "hidden_size": 32,
    "expansion": 4.0,
    "num_heads": 2,
    "pos_encodings": "rope",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "halt_max_steps": 4,
    "halt_exploration_prob": 0.0,
    "forward_dtype": "float32",
    "mlp_t": False,
    "puzzle_emb_len": 2,
    "no_ACT_continue": True,
}
INT_FIELDS = ("batch_size", "seq_len", "puzzle_emb_ndim", "num_puzzle_identifiers", "vocab_size",
              "H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "num_heads",
              "halt_max_steps", "puzzle_emb_len")
FLOAT_FIELDS = ("expansion", "rms_norm_eps", "rope_theta", "halt_exploration_prob")
BOOL_FIELDS = ("mlp_t", "no_ACT_continue")

# The loss head returns these outputs (detached) when asked; target_q_continue only exists when
# no_ACT_continue is false and the model is in training mode.
RETURN_KEYS = ("logits", "q_halt_logits", "q_continue_logits", "target_q_continue")

PATCH_ACT_CONTINUE = "ACTV1.forward: 5-way unpack of inner() output fixed to 3-way (official code crashes here)"
PATCH_SOFTMAX = ("softmax_cross_entropy: accept+ignore valid_mask kwarg, and pass logits.contiguous() "
                 "(official code crashes on both)")


def warn(msg):
    print("export_trace: " + msg, file=sys.stderr)


class UsageError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# safetensors, numpy only

_DTYPES = {} if np is None else {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


def _dtype_name(arr):
    for name, dt in _DTYPES.items():
        if arr.dtype == dt or arr.dtype == dt.newbyteorder("="):
            return name
    raise ValueError("unsupported dtype %s" % arr.dtype)


def write_safetensors(path, tensors, metadata):
    """tensors: {name: np.ndarray}; metadata: {str: str}. Tensors are laid out by decreasing item
    size then name (as the safetensors library does); the header is space-padded to 8 bytes."""
    names = sorted(tensors, key=lambda k: (-tensors[k].dtype.itemsize, k))
    header, blobs, offset = {}, [], 0
    for name in names:
        arr = tensors[name]
        dt = _dtype_name(arr)
        data = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise UsageError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise UsageError("%s: header length %d exceeds the file" % (path, n))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise UsageError("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        b, e = info["data_offsets"]
        if not (0 <= b <= e <= len(buf) - 8 - n):
            raise UsageError("%s: tensor %s lies outside the file" % (path, name))
        out[name] = np.frombuffer(buf[8 + n + b:8 + n + e], dtype=dt).reshape(info["shape"])
    return meta, out


# ------------------------------------------------------------------------------------------------
# config

def load_config_arg(text):
    if text is None:
        return {}
    if os.path.isfile(text):
        with open(text, "r", encoding="utf-8") as f:
            body = f.read()
        if text.endswith((".yaml", ".yml")):
            try:
                import yaml  # type: ignore
            except ImportError:
                raise UsageError("--config %s: reading YAML needs PyYAML (or pass JSON)" % text)
            cfg = yaml.safe_load(body)
        else:
            cfg = json.loads(body)
    else:
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise UsageError("--config is neither a file nor valid JSON: %s" % e)
    if not isinstance(cfg, dict):
        raise UsageError("--config must be a JSON object")
    if isinstance(cfg.get("arch"), dict):  # a run's all_config.yaml
        cfg = cfg["arch"]
    return cfg


def build_config(user_cfg, batch_size, keep_exploration=False):
    cfg = dict(DEFAULT_CONFIG)
    ignored = [k for k in user_cfg if k not in DEFAULT_CONFIG]
    for k in ignored:
        if k not in ("name", "loss", "causal"):
            warn("config field %r is not a TRM field; ignored" % k)
    cfg.update({k: v for k, v in user_cfg.items() if k in DEFAULT_CONFIG})
    if cfg["puzzle_emb_ndim"] is None or (isinstance(cfg["puzzle_emb_ndim"], str)
                                          and "hidden_size" in cfg["puzzle_emb_ndim"]):
        cfg["puzzle_emb_ndim"] = cfg["hidden_size"]
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    try:
        for k in INT_FIELDS:
            cfg[k] = int(cfg[k])
        for k in FLOAT_FIELDS:
            cfg[k] = float(cfg[k])
        for k in BOOL_FIELDS:
            v = cfg[k]
            cfg[k] = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
    except (TypeError, ValueError) as e:
        raise UsageError("bad config value: %s" % e)
    if cfg["forward_dtype"] != "float32":
        warn("forward_dtype %r replaced by float32 (traces are float32)" % cfg["forward_dtype"])
        cfg["forward_dtype"] = "float32"
    if cfg["halt_exploration_prob"] != 0.0 and not keep_exploration:
        warn("halt_exploration_prob %g replaced by 0 (exploration is not reproducible)"
             % cfg["halt_exploration_prob"])
        cfg["halt_exploration_prob"] = 0.0
    if cfg["pos_encodings"] not in ("rope", "learned", "none"):
        raise UsageError("pos_encodings must be rope, learned or none")
    if cfg["puzzle_emb_ndim"] < 0 or cfg["puzzle_emb_len"] < 0:
        raise UsageError("puzzle_emb_ndim and puzzle_emb_len must be >= 0")
    if cfg["puzzle_emb_ndim"] == 0 and cfg["puzzle_emb_len"] > 0:
        # No puzzle embedding is prepended, yet the carry reserves puzzle_emb_len positions: the
        # official code crashes on the shape mismatch.
        raise UsageError("puzzle_emb_ndim = 0 needs puzzle_emb_len = 0 (the official code crashes otherwise)")
    if cfg["hidden_size"] % cfg["num_heads"] and not cfg["mlp_t"]:
        raise UsageError("hidden_size must be divisible by num_heads")
    for k in ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers", "hidden_size",
              "H_cycles", "L_cycles", "L_layers", "halt_max_steps"):
        if cfg[k] < 1:
            raise UsageError("%s must be >= 1" % k)
    return cfg


# ------------------------------------------------------------------------------------------------
# shims and patches (never touching the checkout)

def install_shims(torch):
    import torch.nn as nn
    import torch.nn.functional as F
    applied = []

    if not hasattr(nn, "Buffer"):
        class Buffer(object):
            """Stand-in for torch>=2.5 nn.Buffer: Module.__setattr__ registers it as a buffer."""

            def __init__(self, data, persistent=True):
                self.data = data
                self.persistent = persistent

        orig_setattr = nn.Module.__setattr__

        def __setattr__(self, name, value):
            if isinstance(value, Buffer):
                self.register_buffer(name, value.data, persistent=value.persistent)
            else:
                orig_setattr(self, name, value)

        nn.Buffer = Buffer
        nn.Module.__setattr__ = __setattr__
        applied.append("nn.Buffer")

    if not hasattr(F, "scaled_dot_product_attention"):
        def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                         is_causal=False, scale=None):
            if attn_mask is not None or dropout_p or is_causal:
                raise NotImplementedError("sdpa shim: only the unmasked, non-causal case")
            s = (1.0 / math.sqrt(query.shape[-1])) if scale is None else scale
            out = torch.softmax((query @ key.transpose(-2, -1)) * s, dim=-1) @ value
            # Same values, laid out in memory as [B, S, H, D] like torch 2's CPU kernels return it:
            # layers.py does rearrange('B H S D -> B S H D') and then .view(), which needs that.
            return out.transpose(1, 2).contiguous().transpose(1, 2)

        F.scaled_dot_product_attention = scaled_dot_product_attention
        applied.append("sdpa=softmax((q@k^T)*(1/sqrt(d)))@v")

    try:
        import einops  # noqa: F401
    except ImportError:
        mod = types.ModuleType("einops")

        def rearrange(t, pattern):
            p = " ".join(pattern.split())
            if p in ("B S H D -> B H S D", "B H S D -> B S H D"):
                return t.permute(0, 2, 1, 3)
            raise NotImplementedError("einops shim: pattern %r" % pattern)

        mod.rearrange = rearrange
        sys.modules["einops"] = mod
        applied.append("einops.rearrange=permute(0,2,1,3)")

    import torch.optim.optimizer as optim_mod
    if not hasattr(optim_mod, "ParamsT"):
        optim_mod.ParamsT = object  # only a type annotation in sparse_embedding.py
        applied.append("ParamsT")

    restore = []
    try:
        torch.no_grad(lambda: None)
    except TypeError:
        orig_no_grad = torch.no_grad

        class no_grad(orig_no_grad):  # accept the bare @torch.no_grad decorator form
            def __new__(cls, orig_func=None):
                obj = super().__new__(cls)
                return obj if orig_func is None else obj(orig_func)

            def __init__(self, orig_func=None):
                super().__init__()

        torch.no_grad = no_grad
        restore.append(lambda: setattr(torch, "no_grad", orig_no_grad))  # after the imports
        applied.append("@torch.no_grad")

    try:
        import pydantic  # noqa: F401
    except ImportError:
        mod = types.ModuleType("pydantic")

        class BaseModel(object):
            """Minimal stand-in: annotated fields, class defaults, int/float/bool/str coercion."""

            def __init__(self, **kwargs):
                ann = {}
                for c in reversed(type(self).__mro__):
                    ann.update(getattr(c, "__annotations__", {}))
                for k, t in ann.items():
                    if k in kwargs:
                        v = kwargs[k]
                    elif hasattr(type(self), k):
                        v = getattr(type(self), k)
                    else:
                        raise TypeError("missing config field %s" % k)
                    if t in (int, float, str):
                        v = t(v)
                    elif t is bool:
                        v = bool(v)
                    object.__setattr__(self, k, v)

        mod.BaseModel = BaseModel
        mod.ConfigDict = dict  # only used as a class attribute by pretrain.py
        sys.modules["pydantic"] = mod
        applied.append("pydantic.BaseModel=minimal")

    long_ids = False
    try:
        torch.zeros(2, 1)[torch.zeros(1, dtype=torch.int32)]
    except (IndexError, RuntimeError):
        long_ids = True  # torch < 2: int32 index tensors are refused; batch fed as int64
        applied.append("int64 ids")

    major_minor = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    shims = ("torch%s: " % major_minor + ", ".join(applied)) if applied else "none"
    return shims, long_ids, restore


def import_official(repo, cfg, loss_type):
    repo = os.path.abspath(repo)
    trm_path = os.path.join(repo, "models", "recursive_reasoning", "trm.py")
    losses_path = os.path.join(repo, "models", "losses.py")
    for p in (trm_path, losses_path, os.path.join(repo, "models", "layers.py")):
        if not os.path.isfile(p):
            raise UsageError("--repo %s: %s not found (not a TinyRecursiveModels checkout?)" % (repo, p))
    for name in list(sys.modules):
        if name == "models" or name.startswith("models."):
            del sys.modules[name]
    sys.path.insert(0, repo)
    sys.dont_write_bytecode = True  # leave no __pycache__ in the user's checkout

    patches = []
    import models.recursive_reasoning  # noqa: F401  (namespace package)
    if not cfg["no_ACT_continue"]:
        with open(trm_path, "r", encoding="utf-8") as f:
            src = f.read()
        pattern = re.compile(r"_\s*,\s*_\s*,\s*\(\s*next_q_halt_logits\s*,\s*next_q_continue_logits\s*\)\s*,\s*_\s*,\s*_\s*=")
        if len(pattern.findall(src)) == 1:
            src = pattern.sub("_, _, (next_q_halt_logits, next_q_continue_logits) =", src)
            modname = "models.recursive_reasoning.trm"
            mod = types.ModuleType(modname)
            mod.__file__ = trm_path
            sys.modules[modname] = mod
            exec(compile(src, trm_path, "exec"), mod.__dict__)
            patches.append(PATCH_ACT_CONTINUE)
        else:
            warn("trm.py: the 5-way unpack was not found; running the checkout's code unpatched")
    trm = __import__("models.recursive_reasoning.trm", fromlist=["_"])
    losses = __import__("models.losses", fromlist=["_"])

    if loss_type == "softmax_cross_entropy":
        orig = losses.softmax_cross_entropy
        if "valid_mask" not in inspect.signature(orig).parameters:
            def softmax_cross_entropy(logits, labels, ignore_index=-100, valid_mask=None):
                return orig(logits.contiguous(), labels, ignore_index=ignore_index)

            losses.softmax_cross_entropy = softmax_cross_entropy
            patches.append(PATCH_SOFTMAX)
    return trm, losses, patches


def auto_q_bias(torch, head, batch, cfg):
    """Pick q_head.bias (halt, continue) so that in train mode max(1, B//2) rows halt by the Q head
    before halt_max_steps and the others do not (until they are forced to). Runs the first halt_max_steps-1 steps in eval
    mode (no halting, no RNG use) with bias 0; until a row halts, its train-mode trajectory is the
    same, and a bias shifts the q logits exactly."""
    inner = head.model.inner
    with torch.no_grad():
        inner.q_head.bias.zero_()
    was_training = head.training
    head.eval()
    margins = []  # per step: the quantity that must be > 0 for a row to halt, with bias 0
    carry = head.initial_carry(batch)
    with torch.no_grad():
        for _ in range(max(1, cfg["halt_max_steps"] - 1)):
            carry, _, _, out, _ = head(return_keys=("q_halt_logits", "q_continue_logits"),
                                       carry=carry, batch=batch)
            m = out["q_halt_logits"].double()
            if not cfg["no_ACT_continue"]:
                m = m - out["q_continue_logits"].double()
            margins.append(m)
    head.train(was_training)
    best = sorted((float(v) for v in torch.stack(margins).max(0).values), reverse=True)
    k = max(1, len(best) // 2) - 1  # rows best[0..k] halt early
    if k + 1 < len(best) and best[k] > best[k + 1]:
        b = -(best[k] + best[k + 1]) / 2
    else:
        b = -best[k] + 0.05
    return [b, 0.0]


def repo_source(repo):
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        return "SamsungSAILMontreal/TinyRecursiveModels@unknown (%s)" % os.path.basename(os.path.abspath(repo))
    return "SamsungSAILMontreal/TinyRecursiveModels@%s%s" % (commit, "+local-changes" if dirty else "")


# ------------------------------------------------------------------------------------------------
# batches and probes

def draw_batch(torch, cfg):
    """inputs, labels ~ U{0..vocab-1}; each label -100 w.p. 0.25 and column 0 always -100; ids ~ U."""
    B, S = cfg["batch_size"], cfg["seq_len"]
    inputs = torch.randint(0, cfg["vocab_size"], (B, S))
    labels = torch.randint(0, cfg["vocab_size"], (B, S))
    labels = torch.where(torch.rand(B, S) < 0.25, torch.full_like(labels, -100), labels)
    labels[:, 0] = -100
    pids = torch.randint(0, cfg["num_puzzle_identifiers"], (B,))
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": pids}


def f32np(t):
    return t.detach().to(t.new_empty(0).float().dtype).cpu().numpy().copy()


class Probes(object):
    """Records, for the FIRST inner forward of a loss-head call (the Q-continue target runs the inner
    model a second time), the input embedding x, the output of every L_level call (z_L after each
    latent update, z_H after each answer update, in order) and, with blocks=True, every block's
    output. Hooks only read; the official code runs unchanged."""

    def __init__(self, torch, inner, cfg, blocks):
        self.n = cfg["L_cycles"]
        self.T = cfg["H_cycles"]
        self.on = False
        self.calls = 0
        self.x = None
        self.updates = []
        self.cur = []
        orig_inner = inner.forward
        orig_emb = inner._input_embeddings

        def inner_forward(*a, **k):
            self.calls += 1
            return orig_inner(*a, **k)

        def input_embeddings(*a, **k):
            out = orig_emb(*a, **k)
            if self.on and self.calls == 1:
                self.x = out.detach().clone()
            return out

        def level_hook(_mod, _inp, out):
            if self.on and self.calls == 1:
                self.updates.append((out.detach().clone(), self.cur))
            self.cur = []

        def block_hook(_mod, _inp, out):
            if self.on and self.calls == 1:
                self.cur.append(out.detach().clone())

        inner.forward = inner_forward
        inner._input_embeddings = input_embeddings
        inner.L_level.register_forward_hook(level_hook)
        if blocks:
            for layer in inner.L_level.layers:
                layer.register_forward_hook(block_hook)

    def start(self):
        self.on, self.calls, self.x, self.updates, self.cur = True, 0, None, [], []

    def write(self, tensors, pre):
        """Stops recording and writes step/<s>/x and step/<s>/cycle/<c>/{z_L/<i>,z_H}[/block/<j>]."""
        self.on = False
        if self.x is None or len(self.updates) != self.T * (self.n + 1):
            raise RuntimeError("probes: expected x and %d updates, got %d (is this the official layout?)"
                               % (self.T * (self.n + 1), len(self.updates)))
        tensors[pre + "x"] = f32np(self.x)
        for k, (out, blocks) in enumerate(self.updates):
            c, j = divmod(k, self.n + 1)
            base = pre + "cycle/%d/" % c + ("z_L/%d" % j if j < self.n else "z_H")
            tensors[base] = f32np(out)
            for b, bo in enumerate(blocks):
                tensors[base + "/block/%d" % b] = f32np(bo)


def write_step_outputs(tensors, pre, carry, loss, metrics, out):
    """The per-step tensors of trm-trace/1: carry, heads, halting, losses."""
    tensors[pre + "z_H"] = f32np(carry.inner_carry.z_H)
    tensors[pre + "z_L"] = f32np(carry.inner_carry.z_L)
    tensors[pre + "logits"] = f32np(out["logits"])
    tensors[pre + "q_halt_logits"] = f32np(out["q_halt_logits"])
    tensors[pre + "q_continue_logits"] = f32np(out["q_continue_logits"])
    tensors[pre + "halted"] = carry.halted.cpu().numpy().astype(np.uint8)
    tensors[pre + "steps"] = carry.steps.cpu().numpy().astype(np.int32)
    tensors[pre + "loss"] = np.array([float(loss.detach().double())], dtype=np.float64)
    tensors[pre + "lm_loss"] = np.array([float(metrics["lm_loss"].double())], dtype=np.float64)
    tensors[pre + "q_halt_loss"] = np.array([float(metrics["q_halt_loss"].double())], dtype=np.float64)
    if "target_q_continue" in out:
        tensors[pre + "target_q_continue"] = f32np(out["target_q_continue"])
        tensors[pre + "q_continue_loss"] = np.array([float(metrics["q_continue_loss"].double())], dtype=np.float64)


def record_steps(torch, args, cfg, mode, steps, head, batch, probes, tensors, init):
    """train / eval: `steps` loss-head calls on one batch from the initial carry (trm-trace/1 recipe)."""
    model = head.model
    inner = model.inner
    has_pe = cfg["puzzle_emb_ndim"] > 0
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    train = mode == "train"
    head.train(train)
    carry = head.initial_carry(batch)
    halted_any = False
    for s in range(steps):
        for _, p in trainable:
            p.grad = None
        if train and has_pe:
            inner.puzzle_emb.local_weights.grad = None
        probes.start()
        if train:
            carry, loss, metrics, out, _ = head(return_keys=RETURN_KEYS, carry=carry, batch=batch)
            loss.backward()
        else:
            with torch.no_grad():
                carry, loss, metrics, out, _ = head(return_keys=RETURN_KEYS, carry=carry, batch=batch)
        pre = "step/%d/" % s
        probes.write(tensors, pre)
        write_step_outputs(tensors, pre, carry, loss, metrics, out)
        if "target_q_continue" not in out and not cfg["no_ACT_continue"] and train:
            raise RuntimeError("no target_q_continue although no_ACT_continue is false")
        if train:
            halted_any = halted_any or bool((carry.halted & (carry.steps < cfg["halt_max_steps"])).any())
            for name, p in trainable:
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                tensors["grad/%d/%s" % (s, name)] = f32np(g)
            if has_pe:
                lw = inner.puzzle_emb.local_weights
                g = lw.grad if lw.grad is not None else torch.zeros_like(lw)
                tensors["grad/%d/inner.puzzle_emb.local_weights" % s] = f32np(g)
    if train and cfg["halt_max_steps"] > 1 and not halted_any and init is None and not args.no_perturb:
        warn("no row halted by the Q head in the recorded steps; try another --q-bias (e.g. 0,0)")


# ------------------------------------------------------------------------------------------------
# train-run: the official training loop (pretrain.py train_batch, EMAHelper, SignSGD, AdamATan2)

# Small defaults: warmup and a cosine decay to lr_min_ratio inside a few steps.
DEFAULT_TRAIN = {
    "lr": 1e-3,
    "lr_min_ratio": 0.1,
    "lr_warmup_steps": 2,
    "total_steps": None,  # None: the number of recorded steps
    "beta1": 0.9,
    "beta2": 0.95,
    "weight_decay": 0.1,
    "puzzle_emb_lr": 1e-2,
    "puzzle_emb_weight_decay": 0.1,
    "ema_rate": 0.999,
}

ADAM_NOTE = ("AdamATan2: PyTorch transcription of adam_math (imoneoi/adam_atan2 csrc/adam_atan2.cu at 42a1aeb) "
             "in place of the CUDA kernel, fp32 opmath; FMAs emulated in float64 with one rounding; atan2 in "
             "float64 rounded to fp32 (CUDA atan2f is within 2 ulp)")


def build_train_hyper(user, cfg, ema):
    h = dict(DEFAULT_TRAIN)
    for k in user:
        if k not in DEFAULT_TRAIN and k not in ("ema", "global_batch_size"):
            raise UsageError("--train: unknown field %r (known: %s)" % (k, ", ".join(sorted(DEFAULT_TRAIN))))
    h.update({k: v for k, v in user.items() if k in DEFAULT_TRAIN})
    h["global_batch_size"] = cfg["batch_size"]  # one process: the model's batch is the global batch
    if user.get("global_batch_size", cfg["batch_size"]) != cfg["batch_size"]:
        raise UsageError("--train: global_batch_size must equal the config's batch_size (one process)")
    h["ema"] = bool(ema or user.get("ema", False))
    try:
        for k in ("lr", "lr_min_ratio", "beta1", "beta2", "weight_decay", "puzzle_emb_lr",
                  "puzzle_emb_weight_decay", "ema_rate"):
            h[k] = float(h[k])
        h["lr_warmup_steps"] = int(h["lr_warmup_steps"])
        if h["total_steps"] is not None:
            h["total_steps"] = int(h["total_steps"])
    except (TypeError, ValueError) as e:
        raise UsageError("--train: bad value: %s" % e)
    return h


def make_adam_atan2_module(torch):
    """Stand-in for the `adam_atan2` package, whose kernel is CUDA only: the same optimizer class
    (imoneoi/adam_atan2 adam_atan2.py at 42a1aeb) with adam_math transcribed from csrc/adam_atan2.cu
    line by line."""

    def cast(x, like):  # static_cast<opmath_t>(double): opmath is fp32 for fp32 params
        return torch.tensor(x, dtype=like.dtype)

    def fma(a, b, c):  # fma(a, b, c): a*b exact in float64 for fp32 operands, then one rounding
        return (a.double() * b.double() + c.double()).to(c.dtype)

    def lerp(v0, v1, t):  # return fma(t, v1, fma(-t, v0, v0));
        return fma(t, v1, fma(-t, v0, v0))

    def adam_math(param, grad, exp_avg, exp_avg_sq, step_count, lr, beta1, beta2, weight_decay):
        # FusedAdamMathFunctor: host-side constants in double, then cast to opmath_t.
        bias_correction1 = 1 - beta1 ** step_count  # at::native::pow_(beta1, *step_count)
        bias_correction2 = 1 - beta2 ** step_count
        step_size = cast(lr / bias_correction1, param)
        wd_alpha = cast(1 - lr * weight_decay, param)
        bias_correction2_sqrt = cast(math.sqrt(bias_correction2), param)
        mbeta1 = cast(1 - beta1, param)
        mbeta2 = cast(1 - beta2, param)
        # adam_math: load into opmath registers
        p = param.clone()
        g = grad
        m = exp_avg
        v = exp_avg_sq
        p = p * wd_alpha  # param *= wd_alpha;
        m = lerp(m, g, mbeta1)  # exp_avg = lerp(exp_avg, grad, mbeta1);
        v = lerp(v, g * g, mbeta2)  # exp_avg_sq = lerp(exp_avg_sq, grad * grad, mbeta2);
        denom = torch.sqrt(v) / bias_correction2_sqrt  # const opmath_t denom = std::sqrt(exp_avg_sq) / bias_correction2_sqrt;
        a = torch.atan2(m.double(), denom.double()).to(p.dtype)  # std::atan2(exp_avg, denom)
        p = fma(-step_size, a, p)  # param -= step_size * atan2(...); nvcc contracts it to one FMA
        param.copy_(p)  # store results
        exp_avg.copy_(m)
        exp_avg_sq.copy_(v)

    class AdamATan2(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2):
            if not 0.0 <= lr:
                raise ValueError("Invalid learning rate: {}".format(lr))
            if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
                raise ValueError("Invalid beta parameters: {}".format(betas))
            if not 0.0 <= weight_decay:
                raise ValueError("Invalid weight_decay value: {}".format(weight_decay))
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

        def step(self, closure=None):
            with torch.no_grad():
                for group in self.param_groups:
                    beta1, beta2 = group["betas"]
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state[p]
                        if len(state) == 0:  # lazy state init: step is a float32 scalar
                            state["step"] = torch.tensor(0.0, dtype=torch.float32)
                            state["exp_avg"] = torch.zeros_like(p)
                            state["exp_avg_sq"] = torch.zeros_like(p)
                        state["step"] += 1  # torch._foreach_add_(state_steps, 1), before the kernel
                        adam_math(p, p.grad, state["exp_avg"], state["exp_avg_sq"], float(state["step"]),
                                  group["lr"], beta1, beta2, group["weight_decay"])

    mod = types.ModuleType("adam_atan2")
    mod.AdamATan2 = AdamATan2
    return mod


def import_pretrain(torch, repo):
    """Imports the official pretrain.py. Packages it imports that a CPU recording does not use
    (wandb, hydra, omegaconf, coolname, tqdm, argdantic, yaml) get empty stand-ins when missing;
    adam_atan2 is always the transcription above. Returns (module, list of stand-ins)."""
    applied = []

    def stub(name, **attrs):
        try:
            __import__(name)
            return
        except ImportError:
            pass
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        applied.append(name)

    noop = lambda *a, **k: None  # noqa: E731
    stub("tqdm", tqdm=noop)
    stub("wandb", init=noop, log=noop, finish=noop)
    stub("coolname", generate_slug=lambda *a, **k: "trace")
    stub("hydra", main=lambda *a, **k: (lambda f: f))
    stub("omegaconf", DictConfig=dict, OmegaConf=object)
    stub("argdantic", ArgParser=object)
    stub("yaml", safe_dump=noop, safe_load=noop, dump=noop)
    sys.modules["adam_atan2"] = make_adam_atan2_module(torch)
    sys.modules.pop("pretrain", None)
    pretrain = __import__("pretrain")
    if not hasattr(pretrain, "train_batch"):
        raise UsageError("--repo: pretrain.py has no train_batch (not the official layout?)")
    return pretrain, applied


class StepCapture(object):
    """Wraps a loss head and its optimizers to see what train_batch computes without changing it:
    the head is asked for its outputs (train_batch passes return_keys=[]; they are filtered back
    out), each optimizer's step records its gradients and learning rate first, and torch.rand_like /
    randint_like record the exploration draws (or, for a shadow, return given draws)."""

    def __init__(self, torch, head, optimizers):
        self.torch = torch
        self.out = None
        self.grads = {}
        self.lrs = []
        self.draws = None
        self.replay_draws = None
        orig_forward = head.forward

        def forward(return_keys=(), **kw):
            r = orig_forward(return_keys=RETURN_KEYS, **kw)
            self.out = r
            return (r[0], r[1], r[2], {k: v for k, v in r[3].items() if k in return_keys}, r[4])

        head.forward = forward
        for opt in optimizers:
            self._wrap(opt)

    def _wrap(self, opt):
        orig_step = opt.step

        def step(*a, **k):
            self.lrs.append(opt.param_groups[0]["lr"])
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.requires_grad and p.grad is not None:
                        self.grads[id(p)] = p.grad.detach().clone()
            return orig_step(*a, **k)

        opt.step = step

    def run(self, fn):
        torch = self.torch
        self.out, self.grads, self.lrs, self.draws = None, {}, [], {}
        orig_rand_like, orig_randint_like = torch.rand_like, torch.randint_like
        rd = self.replay_draws

        def rand_like(t, *a, **k):
            r = rd["rand"].clone() if rd is not None else orig_rand_like(t, *a, **k)
            self.draws["rand"] = r.clone()
            return r

        def randint_like(t, *a, **k):
            r = rd["randint"].clone() if rd is not None else orig_randint_like(t, *a, **k)
            self.draws["randint"] = r.clone()
            return r

        torch.rand_like, torch.randint_like = rand_like, randint_like
        orig_cuda = torch.Tensor.cuda
        if not torch.cuda.is_available():  # train_batch moves the batch with .cuda(); on CPU it stays
            torch.Tensor.cuda = lambda self, *a, **k: self
        try:
            return fn()
        finally:
            torch.rand_like, torch.randint_like = orig_rand_like, orig_randint_like
            torch.Tensor.cuda = orig_cuda


def make_optimizers(pretrain, head, cfg, hyper):
    """The optimizers as pretrain.create_model builds them: [SignSGD(puzzle_emb buffers),
    AdamATan2(parameters)] with base lrs [puzzle_emb_lr, lr], or AdamATan2 alone when
    puzzle_emb_ndim = 0 (freeze_weights is not supported here)."""
    adam = sys.modules["adam_atan2"].AdamATan2(head.parameters(), lr=0, weight_decay=hyper["weight_decay"],
                                               betas=(hyper["beta1"], hyper["beta2"]))
    if cfg["puzzle_emb_ndim"] == 0:
        return [adam], [hyper["lr"]]
    sign = pretrain.CastedSparseEmbeddingSignSGD_Distributed(
        head.model.puzzle_emb.buffers(), lr=0, weight_decay=hyper["puzzle_emb_weight_decay"], world_size=1)
    return [sign, adam], [hyper["puzzle_emb_lr"], hyper["lr"]]


def int64_local_ids(torch, head):
    """torch < 2 cannot index with int32: SignSGD's `weights[local_ids]` needs the (int32) local_ids
    buffer as int64 there. Returns whether it was converted."""
    pe = head.model.inner.puzzle_emb if hasattr(head.model.inner, "puzzle_emb") else None
    if pe is None:
        return False
    try:
        torch.zeros(2, 1)[torch.zeros(1, dtype=torch.int32)]
        return False
    except (IndexError, RuntimeError):
        pe._buffers["local_ids"] = pe.local_ids.long()
        return True


def loop_snapshot(head, optimizers, ema, carry):
    """Everything a train step reads, as float64 copies (for the float64 shadow)."""
    adam = optimizers[-1]
    names = {id(p): n for n, p in head.named_parameters()}
    opt_state = {names[id(p)]: {k: (v.detach().double().clone() if hasattr(v, "double") else v)
                                for k, v in st.items()} for p, st in adam.state.items()}
    return {
        "state": {k: v.detach().double().clone() for k, v in head.state_dict().items()},
        "opt": opt_state,
        "ema": None if ema is None else {k: v.detach().double().clone() for k, v in ema.shadow.items()},
        "carry": carry,
    }


def carry_to(torch, carry, dtype, inner_cls, carry_cls):
    return carry_cls(
        inner_cls(z_H=carry.inner_carry.z_H.detach().to(dtype).clone(),
                  z_L=carry.inner_carry.z_L.detach().to(dtype).clone()),
        carry.steps.clone(), carry.halted.clone(), {k: v.clone() for k, v in carry.current_data.items()})


def max_errors(a, b):
    """(max |a - b|, max |b|) over float arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0
    return float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))


def record_train_run(torch, args, cfg, loss_type, hyper, trm, losses, head0, batches, probes, tensors):
    """K calls of the official pretrain.train_batch (+ EMAHelper.update), each on the next batch,
    recording everything it reads and writes. Returns extra metadata."""
    pretrain, stubs = import_pretrain(torch, args.repo)
    steps = len(batches)
    total_steps = steps if hyper["total_steps"] is None else hyper["total_steps"]
    hyper = dict(hyper, total_steps=total_steps)
    config = types.SimpleNamespace(lr_warmup_steps=hyper["lr_warmup_steps"], lr_min_ratio=hyper["lr_min_ratio"])

    # The recording model: the one built (and perturbed) by run(), with optimizers as create_model.
    head = head0
    model = head.model
    inner = model.inner
    if int64_local_ids(torch, head):
        stubs.append("int64 local_ids")
    optimizers, base_lrs = make_optimizers(pretrain, head, cfg, hyper)
    adam = optimizers[-1]
    capture = StepCapture(torch, head, optimizers)
    ema = None
    if hyper["ema"]:
        ema = pretrain.EMAHelper(mu=hyper["ema_rate"])
        ema.register(head)
    head.train(True)
    state = pretrain.TrainState(model=head, optimizers=optimizers, optimizer_lrs=base_lrs, carry=None,
                                step=0, total_steps=total_steps)
    # train_batch creates the carry under `with torch.device("cuda")` (torch >= 2.0); on CPU the
    # same call is made here, before the first step.
    state.carry = head.initial_carry(batches[0])

    shadow = None
    if args.shadow:
        # A second model of the same config in float64 (forward_dtype float64, parameters double).
        h64 = losses.ACTLossHead(trm.TinyRecursiveReasoningModel_ACTV1(dict(cfg, forward_dtype="float64")),
                                 loss_type=loss_type).double()
        if cfg["puzzle_emb_ndim"] > 0:  # .double() made the grad-carrying buffer a non-leaf; make it a leaf again
            pe = h64.model.inner.puzzle_emb
            pe._buffers["local_weights"] = pe.local_weights.detach().requires_grad_(True)
        int64_local_ids(torch, h64)
        o64, l64 = make_optimizers(pretrain, h64, cfg, hyper)
        shadow = {"head": h64, "opts": o64, "lrs": l64, "capture": StepCapture(torch, h64, o64), "errors": {}}

    names = {id(p): n[len("model."):] for n, p in head.named_parameters()}
    has_pe = cfg["puzzle_emb_ndim"] > 0
    for s in range(steps):
        pre = "step/%d/" % s
        snap = loop_snapshot(head, optimizers, ema, state.carry) if shadow is not None else None
        probes.start()
        capture.run(lambda: pretrain.train_batch(config, state, batches[s], cfg["batch_size"], 0, 1))
        if ema is not None:
            ema.update(head)
        ran = capture.out is not None
        if ran:
            carry, loss, metrics, out, _ = capture.out
            probes.write(tensors, pre)
            write_step_outputs(tensors, pre, carry, loss, metrics, out)
            for k in ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps"):
                tensors[pre + "metrics/" + k] = np.array([float(metrics[k].double())], dtype=np.float64)
            for k in ("inputs", "labels", "puzzle_identifiers"):
                tensors[pre + "data/" + k] = carry.current_data[k].cpu().numpy().astype(np.int32)
            d = capture.draws
            if "rand" in d:
                mhs = (d["rand"] < cfg["halt_exploration_prob"]) * d["randint"]
                tensors[pre + "min_halt_steps"] = mhs.cpu().numpy().astype(np.int32)
            else:  # eval-like (halt_max_steps = 1): no draws
                tensors[pre + "min_halt_steps"] = np.zeros(cfg["batch_size"], dtype=np.int32)
            tensors[pre + "lr"] = np.array([capture.lrs[-1]], dtype=np.float64)
            if has_pe:
                tensors[pre + "puzzle_emb_lr"] = np.array([capture.lrs[0]], dtype=np.float64)
            for n, p in head.named_parameters():
                g = capture.grads.get(id(p))
                tensors["grad/%d/%s" % (s, n[len("model."):])] = f32np(g if g is not None else torch.zeros_like(p))
            if has_pe:
                g = capture.grads.get(id(inner.puzzle_emb.local_weights))
                tensors["grad/%d/inner.puzzle_emb.local_weights" % s] = f32np(g)
        else:
            probes.on = False
        up = "update/%d/" % s
        for n, p in head.named_parameters():
            name = n[len("model."):]
            tensors[up + "params/" + name] = f32np(p)
            st = adam.state.get(p, {})
            if "exp_avg" in st:
                tensors[up + "exp_avg/" + name] = f32np(st["exp_avg"])
                tensors[up + "exp_avg_sq/" + name] = f32np(st["exp_avg_sq"])
            if ema is not None:
                tensors[up + "ema/" + name] = f32np(ema.shadow[n])
        if has_pe:
            tensors[up + "params/inner.puzzle_emb.weights"] = f32np(inner.puzzle_emb.weights)
        if shadow is not None and ran:
            shadow_step(torch, pretrain, trm, shadow, snap, config, state, batches[s], cfg, hyper, capture, tensors, s)

    meta = {
        "train": json.dumps(hyper, sort_keys=True),
        "optimizer": ADAM_NOTE,
        "loop": "pretrain.train_batch (step, total_steps, compute_lr, 1/global_batch_size, optimizer order) "
                "+ models.ema.EMAHelper.update after every batch; no torch.compile, CPU, one process",
        "stand_ins": ", ".join(stubs + ([] if torch.cuda.is_available() else ["Tensor.cuda=identity"])) or "none",
    }
    if shadow is not None:
        meta["shadow_f64"] = json.dumps(shadow["errors"], sort_keys=True)
    return meta


def tensor_class(name):
    for prefix, cls in (("update/", None), ("grad/", "grad")):
        if name.startswith(prefix):
            if cls is not None:
                return cls
            return name.split("/")[2]  # params, exp_avg, exp_avg_sq, ema
    return "activations"


def load_shadow(torch, pretrain, shadow, snap, hyper):
    """Puts the recording's state before the step (float64 copies) into the shadow model,
    its AdamATan2 state and a fresh EMAHelper. Returns (head, adam, ema)."""
    head = shadow["head"]
    with torch.no_grad():
        sd = head.state_dict()
        for k, v in snap["state"].items():
            sd[k].copy_(v)
    adam = shadow["opts"][-1]
    adam.state.clear()
    params = dict(head.named_parameters())
    for n, st in snap["opt"].items():
        adam.state[params[n]] = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in st.items()}
        if "step" in adam.state[params[n]]:
            adam.state[params[n]]["step"] = st["step"].float().clone()
    ema = None
    if snap["ema"] is not None:
        ema = pretrain.EMAHelper(mu=hyper["ema_rate"])
        ema.shadow = {k: v.clone() for k, v in snap["ema"].items()}
    return head, adam, ema


def shadow_step(torch, pretrain, trm, shadow, snap, config, state32, batch, cfg, hyper, capture32, tensors, s):
    """Teacher-forced float64 shadows of step s, from the recording's state before the step:
    - whole_step: the same train_batch in float64 with the same exploration draws;
    - optimizer_on_recorded_gradients: only the optimizer steps and the EMA, in float64, fed the
      recorded float32 gradients (what a teacher-forced `trm crosscheck` checks).
    The largest float32-vs-float64 difference per tensor class calibrates the tolerances."""
    head, adam, ema = load_shadow(torch, pretrain, shadow, snap, hyper)
    c = snap["carry"]
    carry = carry_to(torch, c, torch.float64, trm.TinyRecursiveReasoningModel_ACTV1InnerCarry,
                     trm.TinyRecursiveReasoningModel_ACTV1Carry)
    st = pretrain.TrainState(model=head, optimizers=shadow["opts"], optimizer_lrs=shadow["lrs"], carry=carry,
                             step=state32.step - 1, total_steps=state32.total_steps)
    cap = shadow["capture"]
    cap.replay_draws = capture32.draws if "rand" in capture32.draws else None
    head.train(True)
    cap.run(lambda: pretrain.train_batch(config, st, batch, cfg["batch_size"], 0, 1))
    if ema is not None:
        ema.update(head)
    errs = shadow["errors"].setdefault("whole_step", {})
    out = cap.out
    note_error(errs, "activations", tensors["step/%d/z_H" % s], out[0].inner_carry.z_H.numpy())
    note_error(errs, "activations", tensors["step/%d/logits" % s], out[3]["logits"].numpy())
    note_error(errs, "loss", tensors["step/%d/loss" % s], [float(out[1])])
    for n, p in head.named_parameters():
        g = cap.grads.get(id(p))
        if g is not None:
            note_error(errs, "grad", tensors["grad/%d/%s" % (s, n[len("model."):])], g.numpy())
    note_writes(errs, head, adam, ema, snap, tensors, s, cfg)

    # The optimizer alone, on the recorded gradients.
    head, adam, ema = load_shadow(torch, pretrain, shadow, snap, hyper)
    for n, p in head.named_parameters():
        p.grad = torch.from_numpy(np.array(tensors["grad/%d/%s" % (s, n[len("model."):])], dtype=np.float64))
    if cfg["puzzle_emb_ndim"] > 0:
        pe = head.model.inner.puzzle_emb
        pe.local_weights.grad = torch.from_numpy(
            np.array(tensors["grad/%d/inner.puzzle_emb.local_weights" % s], dtype=np.float64))
        with torch.no_grad():
            pe.local_ids.copy_(torch.from_numpy(tensors["step/%d/data/puzzle_identifiers" % s].astype(np.int64)))
    for opt, lr in zip(shadow["opts"], capture32.lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        opt.zero_grad()
    if ema is not None:
        ema.update(head)
    note_writes(shadow["errors"].setdefault("optimizer_on_recorded_gradients", {}), head, adam, ema, snap, tensors,
                s, cfg)


def note_error(errs, cls, ref32, ref64, before=None):
    """max |f32 - f64| per class, relative to max |f64| and, for what the optimizer step wrote, to
    the size of the update max |f64 - before| (how trm crosscheck judges updates)."""
    e, scale = max_errors(ref32, ref64)
    cur = errs.setdefault(cls, {"max_abs_err": 0.0, "max_rel_err": 0.0})
    cur["max_abs_err"] = max(cur["max_abs_err"], e)
    cur["max_rel_err"] = max(cur["max_rel_err"], e / scale if scale > 0 else 0.0)
    if before is not None:
        delta, _ = max_errors(ref64, before)
        cur["max_update_rel_err"] = max(cur.get("max_update_rel_err", 0.0), e / delta if delta > 0 else 0.0)


def note_writes(errs, head, adam, ema, snap, tensors, s, cfg):
    """The shadow's parameters, moments, puzzle table and EMA against the recording's."""
    for n, p in head.named_parameters():
        name = n[len("model."):]
        note_error(errs, "params", tensors["update/%d/params/%s" % (s, name)], p.detach().numpy(),
                   snap["state"][n].numpy())
        a = adam.state.get(p, {})
        if "exp_avg" in a:
            old = snap["opt"].get(n, {})
            zero = np.zeros(tuple(p.shape))
            note_error(errs, "exp_avg", tensors["update/%d/exp_avg/%s" % (s, name)], a["exp_avg"].numpy(),
                       old["exp_avg"].numpy() if "exp_avg" in old else zero)
            note_error(errs, "exp_avg_sq", tensors["update/%d/exp_avg_sq/%s" % (s, name)], a["exp_avg_sq"].numpy(),
                       old["exp_avg_sq"].numpy() if "exp_avg_sq" in old else zero)
        if ema is not None:
            note_error(errs, "ema", tensors["update/%d/ema/%s" % (s, name)], ema.shadow[n].detach().numpy(),
                       snap["ema"][n].numpy())
    if cfg["puzzle_emb_ndim"] > 0:
        note_error(errs, "puzzle_emb", tensors["update/%d/params/inner.puzzle_emb.weights" % s],
                   head.model.inner.puzzle_emb.weights.detach().numpy(),
                   snap["state"]["model.inner.puzzle_emb.weights"].numpy())


# ------------------------------------------------------------------------------------------------
# recording

def run(args):
    if np is None:
        raise UsageError("this python (%s) cannot import numpy" % sys.executable)
    if not os.path.isfile(os.path.join(args.repo, "models", "recursive_reasoning", "trm.py")):
        raise UsageError("--repo %s: models/recursive_reasoning/trm.py not found (not a "
                         "TinyRecursiveModels checkout?)" % args.repo)
    init = None
    if args.init_from:
        init_meta, init_tensors = read_safetensors(args.init_from)
        if init_meta.get("format") not in READABLE_FORMATS:
            raise UsageError("%s: not a trm-trace file" % args.init_from)
        if init_meta.get("mode") == "train-run":
            raise UsageError("%s: --init-from takes a train or eval trace, not a train-run" % args.init_from)
        init = (init_meta, init_tensors)
        user_cfg = json.loads(init_meta["config"])
        if args.config is not None:
            user_cfg.update(load_config_arg(args.config))
        for attr, key, conv in (("loss", "loss_type", str), ("mode", "mode", str),
                                ("steps", "steps", int), ("seed", "seed", int), ("case", "case", str)):
            if getattr(args, attr) is None and key in init_meta:
                setattr(args, attr, conv(init_meta[key]))
    else:
        user_cfg = load_config_arg(args.config)
    if args.out is None and not args.list_params:
        raise UsageError("--out is required (the trace file to write)")
    train_run = args.mode == "train-run"
    cfg = build_config(user_cfg, args.batch_size, keep_exploration=train_run)
    if args.exploration is not None:
        if not train_run:
            raise UsageError("--exploration needs --mode train-run (a train or eval trace has exploration off)")
        if not 0.0 <= args.exploration <= 1.0:
            raise UsageError("--exploration must lie in [0, 1]")
        cfg["halt_exploration_prob"] = float(args.exploration)
    hyper = build_train_hyper(load_config_arg(args.train), cfg, args.ema) if train_run else None
    if args.ema and not train_run:
        raise UsageError("--ema needs --mode train-run")
    loss_type = args.loss or "stablemax_cross_entropy"
    if loss_type not in ("stablemax_cross_entropy", "softmax_cross_entropy"):
        raise UsageError("--loss must be stablemax_cross_entropy or softmax_cross_entropy")
    mode = args.mode or "train"
    if mode not in ("train", "eval", "train-run"):
        raise UsageError("--mode must be train, eval or train-run")
    seed = 0 if args.seed is None else args.seed
    steps = (6 if train_run else cfg["halt_max_steps"] + 1) if args.steps is None else args.steps
    if steps < 1:
        raise UsageError("--steps must be >= 1")
    qb = None
    if args.q_bias != "auto":
        try:
            qb = [float(x) for x in args.q_bias.split(",")]
            assert len(qb) == 2
        except (ValueError, AssertionError):
            raise UsageError("--q-bias takes 'auto' or two numbers, e.g. -0.25,0")

    try:
        import torch
    except ImportError:
        raise UsageError("this python (%s) cannot import torch; install it (Debian: apt-get install "
                         "python3-torch, then run /usr/bin/python3)" % sys.executable)
    if os.environ.get("TRM_EXPORT_THREADS"):
        torch.set_num_threads(int(os.environ["TRM_EXPORT_THREADS"]))
    shims, long_ids, restore = install_shims(torch)
    trm, losses, patches = import_official(args.repo, cfg, loss_type)
    for r in restore:
        r()

    B, S = cfg["batch_size"], cfg["seq_len"]
    torch.manual_seed(seed)
    model = trm.TinyRecursiveReasoningModel_ACTV1(dict(cfg))
    head = losses.ACTLossHead(model, loss_type=loss_type)
    inner = model.inner
    has_pe = cfg["puzzle_emb_ndim"] > 0  # else the official model has no puzzle_emb at all
    state = model.state_dict()  # params + persistent buffers, official names ("inner.…")
    if args.list_params:
        # The official state_dict as initialised by the official code: names, shapes, and the
        # statistics of each tensor's initial values (to check a port's declared init against).
        rows = []
        for name, t in state.items():
            v = t.detach().double()
            rows.append({"name": name, "shape": list(t.shape),
                         "std": float(v.pow(2).mean().sqrt()) if v.numel() else 0.0,
                         "mean": float(v.mean()) if v.numel() else 0.0,
                         "min": float(v.min()) if v.numel() else 0.0,
                         "max": float(v.max()) if v.numel() else 0.0})
        print(json.dumps({"params": rows}))
        return

    if init is not None:
        _, t = init
        with torch.no_grad():
            for name, ref in state.items():
                key = "params/" + name
                if key not in t:
                    raise UsageError("%s: missing %s" % (args.init_from, key))
                if list(t[key].shape) != list(ref.shape):
                    raise UsageError("%s: %s has shape %s, the config gives %s"
                                     % (args.init_from, key, list(t[key].shape), list(ref.shape)))
                ref.copy_(torch.from_numpy(np.array(t[key], dtype=np.float32)))
        batch_np = {k: np.array(t["batch/" + k], dtype=np.int64)
                    for k in ("inputs", "labels", "puzzle_identifiers")}
        if batch_np["inputs"].shape != (B, S):
            raise UsageError("%s: batch/inputs shape %s does not match the config"
                             % (args.init_from, batch_np["inputs"].shape))
        init_note = "params and batch copied from %s" % os.path.basename(args.init_from)
    else:
        if not args.no_perturb:
            with torch.no_grad():
                if has_pe:
                    inner.puzzle_emb.weights.copy_(0.5 * torch.randn(inner.puzzle_emb.weights.shape))
                inner.q_head.weight.copy_(0.05 * torch.randn(inner.q_head.weight.shape))
        batch_np = {k: v.numpy() for k, v in draw_batch(torch, cfg).items()}

    for k, hi in (("inputs", cfg["vocab_size"]), ("puzzle_identifiers", cfg["num_puzzle_identifiers"])):
        if batch_np[k].size and (batch_np[k].min() < 0 or batch_np[k].max() >= hi):
            raise UsageError("batch/%s has values outside 0..%d" % (k, hi - 1))
    id_dtype = torch.int64 if long_ids else torch.int32
    batch = {k: torch.from_numpy(np.ascontiguousarray(v)).to(id_dtype) for k, v in batch_np.items()}

    if init is None:
        if args.no_perturb:
            init_note = "official init under torch.manual_seed(seed), unperturbed"
        else:
            if qb is None:
                qb = auto_q_bias(torch, head, batch, cfg)
            with torch.no_grad():
                inner.q_head.bias.copy_(torch.tensor(qb, dtype=torch.float32))
            init_note = ("official init under torch.manual_seed(seed), then "
                         + ("puzzle_emb.weights=0.5*randn, " if has_pe else "")
                         + "q_head.weight=0.05*randn, q_head.bias=[%.6g,%.6g]%s"
                         % (qb[0], qb[1], " (auto)" if args.q_bias == "auto" else ""))
        init_note += "; batch: inputs,labels ~ randint(vocab), labels -100 w.p. 0.25 and in column 0, ids ~ randint"

    tensors = {}
    for name, v in state.items():
        tensors["params/" + name] = v.detach().to(torch.float32).numpy().copy()
    probes = Probes(torch, inner, cfg, blocks=args.blocks)
    extra_meta = {}
    if train_run:
        for k, v in batch_np.items():
            tensors["batch/0/" + k] = np.asarray(v, dtype=np.int32)
        batches = [batch]
        for k in range(1, steps):
            nb = draw_batch(torch, cfg)
            for name, v in nb.items():
                tensors["batch/%d/%s" % (k, name)] = v.numpy().astype(np.int32)
            batches.append({name: v.to(id_dtype) for name, v in nb.items()})
        extra_meta = record_train_run(torch, args, cfg, loss_type, hyper, trm, losses, head, batches, probes,
                                      tensors)
    else:
        for k, v in batch_np.items():
            tensors["batch/" + k] = np.asarray(v, dtype=np.int32)
        record_steps(torch, args, cfg, mode, steps, head, batch, probes, tensors, init)
    metadata = {
        "format": FORMAT,
        "config": json.dumps(cfg, sort_keys=True),
        "loss_type": loss_type,
        "mode": mode,
        "steps": str(steps),
        "case": args.case or "exported",
        "seed": str(seed),
        "dtype": "float32",
        "source": repo_source(args.repo),
        "torch_version": torch.__version__,
        "shims": shims,
        "patch": "; ".join(patches) if patches else "none",
        "init": init_note,
        "recorder": "trm-ts tools/export_trace.py",
        "probes": "blocks" if args.blocks else "updates",
    }
    metadata.update(extra_meta)
    dropped = []
    if args.layout:
        import trm_check  # tools/trm_check.py: layout maps

        try:
            layout = trm_check.read_layout_map(args.layout)
            tensors, dropped = trm_check.to_port_layout(tensors, layout, args.layout)
        except trm_check.TraceError as e:
            raise UsageError(str(e))
        metadata["layout"] = json.dumps(layout)
    write_safetensors(args.out, tensors, metadata)
    size = os.path.getsize(args.out)
    print("wrote %s: %d tensors, %d bytes, %d steps (%s, %s)" % (args.out, len(tensors), size, steps, mode, loss_type))
    if dropped:
        print("  left out (the layout map says the port lacks them): %s" % ", ".join(dropped))


def parse_args(argv):
    p = argparse.ArgumentParser(description="Record a trm-trace/1 file from the official TRM code.",
                                epilog="See the module docstring (or docs/crosscheck.md) for the recipe.")
    p.add_argument("--repo", required=True, help="checkout of SamsungSAILMontreal/TinyRecursiveModels")
    p.add_argument("--out", help="output .safetensors file")
    p.add_argument("--list-params", action="store_true",
                   help="print the official state_dict for --config (names, shapes, statistics of the "
                        "official initial values) as JSON instead of recording a trace")
    p.add_argument("--config", help="JSON text or a .json/.yaml file with official field names")
    p.add_argument("--seed", type=int)
    p.add_argument("--mode", choices=("train", "eval", "train-run"))
    p.add_argument("--steps", type=int)
    p.add_argument("--loss", choices=("stablemax_cross_entropy", "softmax_cross_entropy"))
    p.add_argument("--batch-size", type=int)
    p.add_argument("--case")
    p.add_argument("--q-bias", default="auto",
                   help="q_head.bias 'halt,continue' after init, or auto (default): about half the rows "
                        "halt by the Q head before halt_max_steps")
    p.add_argument("--no-perturb", action="store_true", help="keep the pure official init")
    p.add_argument("--init-from", help="take params and batch from an existing train or eval trace")
    p.add_argument("--blocks", action="store_true", help="also record every block's output in every update")
    p.add_argument("--layout", help="a layout map (JSON, or YAML with PyYAML): write the trace in a port's names and "
                                    "layouts (docs/crosscheck.md)")
    p.add_argument("--exploration", type=float, help="train-run: halt_exploration_prob (default: the config's, 0)")
    p.add_argument("--ema", action="store_true", help="train-run: EMA on (official EMAHelper)")
    p.add_argument("--train", help="train-run: JSON text or file with training fields (lr, lr_min_ratio, "
                                   "lr_warmup_steps, total_steps, beta1, beta2, weight_decay, puzzle_emb_lr, "
                                   "puzzle_emb_weight_decay, ema_rate)")
    p.add_argument("--shadow", action="store_true",
                   help="train-run: also run every step in float64 from the same state and store the "
                        "largest float32-vs-float64 difference per tensor class (metadata shadow_f64)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except UsageError as e:
        print("export_trace: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
