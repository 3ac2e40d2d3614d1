"""A worked pytest example: a port's own test suite checking the port against reference traces.

Copy this file (and tools/trm_check.py) into your port's tests and replace `numpy_trm.run` with
a function that loads `ref.params` into your model, runs `ref.batch` for `ref.steps` supervision
steps, and returns what it computed under the trace's names ("step/0/z_H", "step/0/logits", ...;
docs/trace-format.md). Reference traces come from trm-ts:

    npx trm trace --config '{"vocab_size": 6, "seq_len": 9, "hidden_size": 32, "num_heads": 2}' \\
        --mode eval --out refs/attention.safetensors
    TRM_REFERENCES='refs/*.safetensors' python3 -m pytest tools/examples/test_numpy_trm.py

Without TRM_REFERENCES the official eval traces in test/fixtures/official are used.
"""
import glob
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import numpy_trm  # noqa: E402  (the port under test)
import trm_check  # noqa: E402

DEFAULT = os.path.join(HERE, "..", "..", "test", "fixtures", "official", "*_eval.safetensors")
REFERENCES = sorted(glob.glob(os.environ.get("TRM_REFERENCES") or DEFAULT))


@pytest.mark.parametrize("path", REFERENCES, ids=os.path.basename)
def test_port_matches_the_reference(path):
    ref = trm_check.load_reference(path)
    outputs = numpy_trm.run(ref)  # your port here: {trace name: numpy array}
    report = trm_check.compare(ref, outputs)
    assert report.rows, "the port computed none of the reference's tensors"
    assert report.ok, report.summary()


def test_there_are_references():
    assert REFERENCES, "no reference traces found (set TRM_REFERENCES)"
