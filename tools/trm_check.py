#!/usr/bin/env python3
"""trm_check: compare a TRM implementation with a reference trace, from Python, with NumPy only.

A reference trace (trm-trace/1 or /2, docs/trace-format.md) holds a TRM's weights, its input
batch, and every tensor it computed: written by `npx trm trace` (trm-ts) or by
tools/export_trace.py (the official code). A port loads the weights and batch, runs itself, and
compares what it computed, under the trace's names:

    import trm_check
    ref = trm_check.load_reference("ref.safetensors")
    outputs = my_port.run(ref.config, ref.params, ref.batch)   # {"step/0/z_H": array, ...}
    report = trm_check.compare(ref, outputs)
    assert report.ok, report.summary()

The rows, tolerances and first divergence are those of `trm crosscheck`: one row per recorded
tensor and step, in the order the values are computed (x, every latent and answer update of every
cycle, the heads, halting and losses, the data and metric sums, the learning rates, the gradients,
what the optimizer step wrote), so the first failing row is the innermost place two
implementations part.

As a command, it compares two trace files (the candidate written by the port, with the same names):

    python3 tools/trm_check.py REFERENCE CANDIDATE [--json] [--strict] [--rtol R] [--atol A] ...

Exit codes: 0 every compared tensor within tolerance, 1 a mismatch (or nothing in common), 2 bad
input (an unreadable file, not a trace, a candidate run on other weights or data).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

FORMATS = ("trm-trace/1", "trm-trace/2")

_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U8": np.dtype("u1"),
           "BOOL": np.dtype("?")}

# Row kinds, as trm crosscheck judges them (src/crosscheck/compare.ts).
STEP_KINDS = ("z_H", "z_L", "logits", "q_halt_logits", "q_continue_logits", "halted", "steps", "loss",
              "lm_loss", "q_halt_loss", "target_q_continue", "q_continue_loss")
DATA_KINDS = ("inputs", "labels", "puzzle_identifiers")
METRIC_KINDS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")
RATE_KINDS = ("lr", "puzzle_emb_lr")
UPDATE_SLOTS = ("exp_avg", "exp_avg_sq", "params", "ema")
PUZZLE_TABLE = "inner.puzzle_emb.weights"
LOSS_KINDS = frozenset(("loss", "lm_loss", "q_halt_loss", "q_continue_loss", "metrics/accuracy", "lr",
                        "puzzle_emb_lr"))
EXACT_KINDS = frozenset(("halted", "steps", "metrics/count", "metrics/exact_accuracy",
                         "metrics/q_halt_accuracy", "metrics/steps", "data/inputs", "data/labels",
                         "data/puzzle_identifiers"))


class TraceError(Exception):
    """Bad input: the message names the file and the tensor or field."""


@dataclass(frozen=True)
class Tolerance:
    """|ours - ref| <= rel * max|ref| + abs for tensors; <= loss_rel * |ref| for losses and learning
    rates; what an optimizer step wrote is judged against the recorded update:
    <= update_rel * max|ref - before| + update_ulps * ulp32(max|ref|). Integers must match exactly."""
    rel: float = 1e-4
    abs: float = 1e-5
    loss_rel: float = 1e-5
    update_rel: float = 1e-3
    update_ulps: float = 4


@dataclass(frozen=True)
class Row:
    step: int
    cycle: object  # int or None
    update: object  # int, "answer" or None
    tensor: str
    shape: list
    max_abs_err: float
    rel_err: float
    ok: bool
    exact: bool = False

    def place(self):
        parts = ["step %d" % self.step]
        if self.cycle is not None:
            parts.append("cycle %d" % self.cycle)
        if self.update is not None:
            parts.append("answer update" if self.update == "answer" else "latent update %d" % self.update)
        parts.append(self.tensor)
        return " \u00b7 ".join(parts)

    def line(self):
        return "%s %-64s %-14s max_abs_err %.2e  rel %.2e" % (
            "ok  " if self.ok else "FAIL", self.place(), "[%s]" % ",".join(map(str, self.shape)),
            self.max_abs_err, self.rel_err)


@dataclass
class Report:
    ok: bool
    rows: list
    first_divergence: object  # Row or None
    max_rel_err: object  # dict or None
    not_compared: list = field(default_factory=list)

    def summary(self):
        lines = [r.line() for r in self.rows]
        if self.max_rel_err is not None:
            lines.append("largest relative error: %.2e (%s, step %d)" % (
                self.max_rel_err["rel_err"], self.max_rel_err["tensor"], self.max_rel_err["step"]))
        if self.not_compared:
            lines.append("not compared (absent from the candidate): %d tensors, e.g. %s"
                         % (len(self.not_compared), ", ".join(self.not_compared[:3])))
        if self.first_divergence is not None:
            r = self.first_divergence
            lines.append("FIRST DIVERGENCE: %s (max abs err %.3e, rel %.3e)" % (r.place(), r.max_abs_err, r.rel_err))
        elif not self.rows:
            lines.append("MISMATCH: no tensor of the reference is in the candidate")
        else:
            lines.append("OK: every compared tensor within tolerance")
        return "\n".join(lines)

    def to_json(self):
        def row(r):  # the keys of trm crosscheck --json
            d = asdict(r)
            del d["exact"]
            for k in ("max_abs_err", "rel_err"):
                if not math.isfinite(d[k]):
                    d[k] = str(d[k])
            return d
        return {"ok": self.ok, "first_divergence": None if self.first_divergence is None else row(self.first_divergence),
                "max_rel_err": self.max_rel_err, "rows": [row(r) for r in self.rows],
                "not_compared": self.not_compared}


@dataclass
class Reference:
    path: str
    metadata: dict
    config: dict
    mode: str
    steps: int
    params: dict
    batch: dict
    batches: list
    expected: dict
    inputs: dict


# ------------------------------------------------------------------------------------------------
# safetensors

def read_safetensors(path):
    """(metadata, {name: array}) of a safetensors file, arrays in file order."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise TraceError("%s: cannot read (%s)" % (path, e.strerror or e))
    if len(buf) < 8:
        raise TraceError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise TraceError("%s: header length %d exceeds the file" % (path, n))
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TraceError("%s: the header is not JSON (%s)" % (path, e))
    if not isinstance(header, dict):
        raise TraceError("%s: the header is not a JSON object" % path)
    meta = header.pop("__metadata__", None) or {}
    data = buf[8 + n:]
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1].get("data_offsets", [0])[0]):
        try:
            dt = _DTYPES.get(info["dtype"])
            shape = [int(d) for d in info["shape"]]
            b, e = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise TraceError("%s: %s: malformed header entry" % (path, name))
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif dt is None:
            raise TraceError("%s: %s: unsupported dtype %s" % (path, name, info["dtype"]))
        else:
            if not (0 <= b <= e <= len(data)) or (e - b) != dt.itemsize * int(np.prod(shape, dtype=np.int64)):
                raise TraceError("%s: %s: data_offsets [%d, %d] do not fit its shape or the file" % (path, name, b, e))
            arr = np.frombuffer(data[b:e], dtype=dt)
        out[name] = arr.reshape(shape)
    return meta, out


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array} (float64, float32, int32, int64, uint8, ...) and {str: str} metadata,
    through a temporary file and a rename."""
    names = list(tensors)
    header, blobs, offset = {}, [], 0
    codes = {v: k for k, v in _DTYPES.items()}
    for name in names:
        arr = np.asarray(tensors[name])
        code = codes.get(arr.dtype.newbyteorder("<")) or codes.get(arr.dtype)
        if code is None:
            raise TraceError("%s: %s: cannot write dtype %s" % (path, name, arr.dtype))
        raw = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": [int(d) for d in arr.shape], "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {str(k): str(v) for k, v in (metadata or {}).items()}
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# the reference

def load_reference(path, layout=None):
    """The weights (official names, without prefix), the batch (a train-run: every step's batch in
    `batches`), the config (official field names), and every expected tensor under its trace name.
    With `layout` (a layout map, or the path of one), every name and layout is the port's instead
    (what `trm trace --layout` writes)."""
    meta, tensors = read_safetensors(path)
    if layout is not None:
        if "layout" in meta:
            raise TraceError("%s: already in a port's layout (__metadata__.layout)" % path)
        doc = read_layout_map(layout) if isinstance(layout, str) else check_layout_map(layout, "layout")
        tensors, _ = to_port_layout(tensors, doc, layout if isinstance(layout, str) else "layout")
        meta = dict(meta, layout=json.dumps(doc))
    if meta.get("format") not in FORMATS:
        raise TraceError("%s: __metadata__.format: expected one of %s, got %r" % (path, ", ".join(FORMATS), meta.get("format")))
    for k in ("config", "mode", "steps"):
        if k not in meta:
            raise TraceError("%s: __metadata__.%s: missing" % (path, k))
    try:
        config = json.loads(meta["config"])
        steps = int(meta["steps"])
    except ValueError as e:
        raise TraceError("%s: __metadata__: %s" % (path, e))
    params = {k[len("params/"):]: v for k, v in tensors.items() if k.startswith("params/")}
    batches = []
    if meta["mode"] == "train-run":
        for s in range(steps):
            batches.append({k: tensors["batch/%d/%s" % (s, k)] for k in DATA_KINDS if "batch/%d/%s" % (s, k) in tensors})
    else:
        batches.append({k: tensors["batch/" + k] for k in DATA_KINDS if "batch/" + k in tensors})
    if any(len(b) != len(DATA_KINDS) for b in batches):
        raise TraceError("%s: batch: expected inputs, labels and puzzle_identifiers" % path)
    inputs = {k: v for k, v in tensors.items() if k.startswith(("params/", "batch/"))}
    expected = {k: v for k, v in tensors.items() if k not in inputs}
    return Reference(path, meta, config, meta["mode"], steps, params, batches[0], batches, expected, inputs)


# ------------------------------------------------------------------------------------------------
# layout maps: a reference in a port's own names (docs/crosscheck.md, "Layout maps")

LAYOUT_FIELDS = ("prefix", "rename", "transpose", "fuse", "rows", "missing")
_PARAM_SCOPE = re.compile(r"^(params/|grad/\d+/|update/\d+/[a-z_]+/)(.+)$")
_STEP_SCOPE = re.compile(r"^(step/\d+/)(.+)$")
# The official fused tensors and how many equal row blocks they fuse (q, k, v; gate, up; halt, continue).
_FUSED_PARTS = ((re.compile(r"\.qkv_proj\.weight$"), 3), (re.compile(r"\.gate_up_proj\.weight$"), 2),
                (re.compile(r"^inner\.q_head\.(weight|bias)$"), 2))


def read_layout_map(path):
    """A layout map from a JSON file, or a YAML one where PyYAML is installed; checked like
    `trm crosscheck --layout` checks it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise TraceError("%s: cannot read (%s)" % (path, e.strerror or e))
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml  # type: ignore
        except ImportError:
            raise TraceError("%s: reading YAML needs PyYAML; give the map as JSON" % path)
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise TraceError("%s: not YAML (%s)" % (path, e))
    else:
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise TraceError("%s: not JSON (%s)" % (path, e))
    return check_layout_map(doc, path)


def check_layout_map(doc, path):
    if not isinstance(doc, dict):
        raise TraceError("%s: a layout map is an object" % path)
    for k, v in doc.items():
        if k not in LAYOUT_FIELDS:
            raise TraceError("%s: %s: not a layout map field (known: %s)" % (path, k, ", ".join(LAYOUT_FIELDS)))
        want = {"prefix": str, "rename": dict, "transpose": list, "fuse": dict, "rows": dict, "missing": list}[k]
        if not isinstance(v, want):
            raise TraceError("%s: %s: expected %s" % (path, k, "a string" if want is str else "an object" if want is dict
                                                        else "a list"))
    for official, r in doc.get("rows", {}).items():
        ok = isinstance(r, str) or (isinstance(r, dict) and set(r) == {"name", "count"} and isinstance(r["name"], str)
                                    and isinstance(r["count"], int) and not isinstance(r["count"], bool)
                                    and r["count"] > 0)
        if not ok:
            raise TraceError("%s: rows.%s: expected the port's name or {name, count}" % (path, official))
    return doc


def _renamed(table, name):
    """`name` under a rename table: its exact entry, else its longest renamed module path (a key
    ending in "."), else itself."""
    if name in table:
        return table[name]
    best = max((k for k in table if k.endswith(".") and name.startswith(k)), key=len, default=None)
    return name if best is None else table[best] + name[len(best):]


def to_port_layout(tensors, layout, path="layout map"):
    """{name: array} of a trace in the official names and layouts → (the same in the port's names
    and layouts, the official names and outputs the port lacks). The inverse of what
    `trm crosscheck --layout` applies; `trm trace --layout` writes the same tensors."""
    port_of = {}
    for port, official in layout.get("rename", {}).items():
        if official in port_of:
            raise TraceError("%s: rename.%s: %s is already the rename of %s, so the map has no inverse"
                             % (path, port, official, port_of[official]))
        if port.endswith(".") != official.endswith("."):
            raise TraceError('%s: rename.%s: a module path (ending in ".") must be renamed to a module path'
                             % (path, port))
        port_of[official] = port
    missing = set(layout.get("missing", []))
    transposed = set(layout.get("transpose", []))
    prefix = layout.get("prefix", "")
    out, dropped = {}, []

    def drop(what):
        if what not in dropped:
            dropped.append(what)

    for name, arr in tensors.items():
        m = _PARAM_SCOPE.match(name)
        if m is None:
            st = _STEP_SCOPE.match(name)
            if st is None:
                out[name] = arr
            elif st.group(2) in missing:
                drop(st.group(2))
            else:
                out[st.group(1) + _renamed(port_of, st.group(2))] = arr
            continue
        scope, official = m.group(1), m.group(2)
        if official in missing:
            drop(official)
            continue
        rows = layout.get("rows", {}).get(official)
        if rows is not None:
            if isinstance(rows, str):
                raise TraceError("%s: rows.%s: give {name, count} to write a trace in this layout" % (path, official))
            if arr.ndim == 0 or rows["count"] > arr.shape[0]:
                raise TraceError("%s: rows.%s.count: %d rows of a tensor of shape %s"
                                 % (path, official, rows["count"], list(arr.shape)))
            if rows["count"] < arr.shape[0]:
                drop("%s (rows %d to %d)" % (official, rows["count"], arr.shape[0] - 1))
            arr = arr[:rows["count"]]
        if official in transposed:
            if arr.ndim != 2:
                raise TraceError("%s: transpose: expected a 2-D tensor, got rank %d" % (name, arr.ndim))
            arr = np.ascontiguousarray(arr.T)
        parts = layout.get("fuse", {}).get(official)
        if parts is not None:
            if rows is not None:
                raise TraceError("%s: fuse.%s: also cut by rows: a tensor is either fused or cut" % (path, official))
            if official in transposed:
                raise TraceError("%s: fuse.%s: a fused tensor that is also transposed cannot be split back"
                                 % (path, official))
            n = next((k for pat, k in _FUSED_PARTS if pat.search(official)), 0)
            if n != len(parts):
                raise TraceError("%s: fuse.%s: %d parts, but the official tensor fuses %d"
                                 % (path, official, len(parts), n))
            size = arr.shape[0] // n
            for i, part in enumerate(parts):
                out[scope + prefix + part] = arr[i * size:(i + 1) * size]
            continue
        port = rows["name"] if rows is not None else _renamed(port_of, official)
        out[scope + prefix + port] = arr
    return out, dropped


# ------------------------------------------------------------------------------------------------
# comparing

def _ulp32(x):
    a = abs(x)
    return 2.0 ** -149 if a < 2.0 ** -126 else 2.0 ** (math.floor(math.log2(a)) - 23)


def _describe(name):
    """(order key, step, cycle, update, label, slot) of a trace name, or None for inputs."""
    parts = name.split("/")
    if parts[0] == "step" and len(parts) >= 3:
        s, rest = int(parts[1]), parts[2:]
        if rest == ["x"]:
            return (s, 0), s, None, None, "x", None
        if rest[0] == "cycle" and len(rest) >= 3:
            c = int(rest[1])
            if rest[2] == "z_L" and len(rest) >= 4:
                i, label, tail = int(rest[3]), "z_L", rest[4:]
            elif rest[2] == "z_H":
                i, label, tail = "answer", "z_H", rest[3:]
            else:
                return None
            block = int(tail[1]) if len(tail) == 2 and tail[0] == "block" else math.inf
            if block != math.inf:
                label = "%s/block/%d" % (label, block)
            return (s, 1, c, math.inf if i == "answer" else i, block), s, c, i, label, None
        kind = "/".join(rest)
        if kind in STEP_KINDS:
            return (s, 2, STEP_KINDS.index(kind)), s, None, None, kind, None
        if rest[0] == "data" and len(rest) == 2 and rest[1] in DATA_KINDS:
            return (s, 3, DATA_KINDS.index(rest[1])), s, None, None, kind, None
        if rest[0] == "metrics" and len(rest) == 2 and rest[1] in METRIC_KINDS:
            return (s, 4, METRIC_KINDS.index(rest[1])), s, None, None, kind, None
        if kind in RATE_KINDS:
            return (s, 5, RATE_KINDS.index(kind)), s, None, None, kind, None
        return None  # min_halt_steps and unknown names are inputs
    if parts[0] == "grad" and len(parts) == 3:
        return (int(parts[1]), 6), int(parts[1]), None, None, "grad/" + parts[2], None
    if parts[0] == "update" and len(parts) == 4 and parts[2] in UPDATE_SLOTS:
        slot = UPDATE_SLOTS.index(parts[2])
        return ((int(parts[1]), 7, slot, parts[3] == PUZZLE_TABLE), int(parts[1]), None, None,
                parts[2] + "/" + parts[3], parts[2])
    return None


def _row(step, cycle, update, label, ours, ref, tol, before=None, ref_before=None):
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(ref, dtype=np.float64).ravel()
    shape = list(np.shape(ref))
    if a.size != b.size:
        return Row(step, cycle, update, label, shape, math.inf, math.inf, False)
    kind = "grad" if label.startswith("grad/") else label
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b) if before is None else np.abs((a - before.ravel()) - (b - ref_before.ravel()))
    both_nan = np.isnan(a) & np.isnan(b)
    nan = bool(np.any(np.isnan(d) & ~both_nan))
    d = np.where(both_nan, 0.0, d)
    max_err = float(d.max()) if d.size else 0.0
    ref_max = float(np.nanmax(np.abs(b))) if b.size and not np.isnan(b).all() else 0.0
    if before is not None:
        moved = np.abs(b - ref_before.ravel())
        delta = float(np.nanmax(moved)) if moved.size and not np.isnan(moved).all() else 0.0
        rel = 0.0 if max_err == 0 else (max_err / delta if delta > 0 else math.inf)
        ok = not nan and max_err <= tol.update_rel * delta + tol.update_ulps * _ulp32(ref_max)
        exact = False
    else:
        rel = 0.0 if max_err == 0 else (max_err / ref_max if ref_max > 0 else math.inf)
        exact = kind in EXACT_KINDS
        if nan:
            ok = False
        elif exact:
            ok = max_err == 0
        elif kind in LOSS_KINDS:
            ok = max_err <= tol.loss_rel * ref_max
        else:
            ok = max_err <= tol.rel * ref_max + tol.abs
    if nan:
        max_err = rel = math.nan
    return Row(step, cycle, update, label, shape, max_err, rel, ok, exact)


def _before(ref_or_out, fallback, s, slot, pname, reference):
    """The value an optimizer step started from: what step s-1 wrote, else the initial one."""
    prev = ref_or_out.get("update/%d/%s/%s" % (s - 1, slot, pname)) if s > 0 else None
    if prev is not None:
        return np.asarray(prev, dtype=np.float64)
    if fallback is not None:
        return fallback
    if slot in ("params", "ema"):
        return np.asarray(reference.params[pname], dtype=np.float64)
    return np.zeros(np.shape(reference.expected["update/%d/%s/%s" % (s, slot, pname)]))


def compare(reference, outputs, tolerance=None, strict=False):
    """Rows for every expected tensor of `reference` that `outputs` ({trace name: array}) has, in
    the order the values are computed. Expected tensors the outputs lack are listed in
    `not_compared` (and fail with strict=True)."""
    tol = tolerance or Tolerance()
    order = {name: i for i, name in enumerate(reference.expected)}
    described = []
    for name in reference.expected:
        d = _describe(name)
        if d is not None:
            described.append((d[0], order[name], name, d))
    described.sort(key=lambda t: (t[0], t[1]))
    rows, missing = [], []
    for _, _, name, (_, s, cycle, update, label, slot) in described:
        ref = reference.expected[name]
        if name not in outputs:
            missing.append(name)
            if strict:
                rows.append(Row(s, cycle, update, label, list(np.shape(ref)), math.inf, math.inf, False))
            continue
        if slot is None:
            rows.append(_row(s, cycle, update, label, outputs[name], ref, tol))
        else:
            pname = name.split("/", 3)[3]
            ref_before = _before(reference.expected, None, s, slot, pname, reference)
            before = _before(outputs, ref_before, s, slot, pname, reference)
            rows.append(_row(s, cycle, update, label, outputs[name], ref, tol, before, ref_before))
    first = next((r for r in rows if not r.ok), None)
    worst = None
    for r in rows:
        if not r.exact and (worst is None or (not math.isnan(worst.rel_err)
                                              and (math.isnan(r.rel_err) or r.rel_err > worst.rel_err))):
            worst = r
    max_rel = None if worst is None else {"tensor": worst.tensor, "step": worst.step, "rel_err": worst.rel_err}
    return Report(first is None and len(rows) > 0, rows, first, max_rel, missing)


def check_inputs(reference, candidate_tensors, candidate_path):
    """A candidate trace must have been run on the reference's weights and batch."""
    for k, v in candidate_tensors.items():
        ref = reference.inputs.get(k)
        if ref is not None and (np.shape(ref) != np.shape(v)
                                or not np.array_equal(np.asarray(ref, np.float64), np.asarray(v, np.float64))):
            raise TraceError("%s: %s differs from the reference's: the candidate was not run on the reference's "
                             "weights and data" % (candidate_path, k))


def main(argv=None):
    p = argparse.ArgumentParser(description="Compare a candidate trace with a reference trace (trm-trace/1 or /2).",
                                epilog="Exit codes: 0 within tolerance, 1 mismatch, 2 bad input.")
    p.add_argument("reference")
    p.add_argument("candidate")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--strict", action="store_true", help="a reference tensor the candidate lacks fails")
    d = Tolerance()
    for flag, attr, what in (("--rtol", "rel", "tensors: relative to max|ref|"), ("--atol", "abs", "tensors: absolute"),
                             ("--loss-rtol", "loss_rel", "losses and learning rates: relative"),
                             ("--update-rtol", "update_rel", "optimizer writes: relative to the recorded update"),
                             ("--update-ulps", "update_ulps", "optimizer writes: float32 ulps of max|ref|")):
        p.add_argument(flag, type=float, default=getattr(d, attr), help="%s (default %g)" % (what, getattr(d, attr)))
    a = p.parse_args(argv)
    try:
        ref = load_reference(a.reference)
        _, cand = read_safetensors(a.candidate)
        check_inputs(ref, cand, a.candidate)
    except TraceError as e:
        print("trm_check: %s" % e, file=sys.stderr)
        return 2
    tol = Tolerance(a.rtol, a.atol, a.loss_rtol, a.update_rtol, a.update_ulps)
    report = compare(ref, cand, tol, strict=a.strict)
    if a.json:
        print(json.dumps(dict(report.to_json(), reference=a.reference, candidate=a.candidate)))
    else:
        print("%s against %s (trace mode %s)" % (a.candidate, a.reference, ref.mode))
        print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
