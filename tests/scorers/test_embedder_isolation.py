"""One text that breaks the tokenizer fails only its own caller, not the others coalesced with it.

The embedder batches the texts of concurrent callers (other requests, other tenants) into one model
pass; a reference the tokenizer cannot take (a lone surrogate, which in-process callers can still
send) used to fail the whole pass and so every other caller's ``semantic`` items.
"""

from __future__ import annotations

import numpy as np
import pytest

from scorers.semantic.embedder import OnnxMiniLM, _Pending

BROKEN = "pleural \ud800 effusion"  # the tokenizer raises TypeError on it


@pytest.fixture(scope="module")
def onnx() -> OnnxMiniLM:
    return OnnxMiniLM(cache_size=0)


def test_a_broken_text_fails_only_the_caller_that_sent_it(onnx: OnnxMiniLM) -> None:
    with pytest.raises(TypeError):
        onnx._encode([BROKEN])
    mine, theirs = _Pending(["cardiomegaly", BROKEN]), _Pending(["enlarged heart", "cardiomegaly"])
    onnx._run([mine, theirs])  # one coalesced pass, as concurrent callers get
    assert mine.finished and theirs.finished
    assert isinstance(mine.error, TypeError)
    assert theirs.error is None
    alone = onnx.embed(["enlarged heart", "cardiomegaly"])
    assert np.allclose(np.stack([theirs.vectors["enlarged heart"], theirs.vectors["cardiomegaly"]]), alone, atol=1e-5)
