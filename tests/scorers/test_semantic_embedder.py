"""The MiniLM embedding backends, run for real (no mocks): cosines, dedupe, cache, loader."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from scorers.semantic import embedder_status, load_default_embedder, loader
from scorers.semantic.embedder import CachingEmbedder, EmbedderUnavailableError, OnnxMiniLM, TorchMiniLM

MEDICAL_TEXTS = [
    "pleural effusion",
    "fluid around the lung",
    "cardiomegaly",
    "enlarged heart",
    "pneumonia",
    "no pneumonia",
    "small left apical pneumothorax",
    "T2-weighted MRI of the brain in the axial plane",
    "",
    "x" * 5_000,
]


@pytest.fixture(scope="module")
def onnx() -> OnnxMiniLM:
    return OnnxMiniLM()


def _cos(e: OnnxMiniLM | TorchMiniLM, a: str, b: str) -> float:
    v = e.embed([a, b])
    return float(v[0] @ v[1])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Measured with the same int8 model when the embedder was written.
        ("pleural effusion", "fluid around the lung", 0.480),
        ("cardiomegaly", "enlarged heart", 0.506),
        ("pneumonia", "no pneumonia", 0.832),
        ("cardiomegaly", "normal heart size", 0.365),
    ],
    ids=["effusion-lay-term", "cardiomegaly-lay-term", "negation-blind", "opposite-finding"],
)
def test_onnx_reproduces_the_measured_cosines(onnx: OnnxMiniLM, a: str, b: str, expected: float) -> None:
    assert _cos(onnx, a, b) == pytest.approx(expected, abs=0.01)


def test_vectors_are_unit_rows_of_384(onnx: OnnxMiniLM) -> None:
    v = onnx.embed(MEDICAL_TEXTS)
    assert v.shape == (len(MEDICAL_TEXTS), 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


def test_batching_and_length_sorting_do_not_change_vectors() -> None:
    small = OnnxMiniLM(batch_size=3, cache_size=0)
    big = OnnxMiniLM(batch_size=64, cache_size=0)
    a, b = small.embed(MEDICAL_TEXTS), big.embed(MEDICAL_TEXTS)
    assert small.model_calls == 4 and big.model_calls == 1  # 10 distinct texts in batches of 3 vs 64
    # Padding to a batch's longest text changes float rounding, not the embedding.
    assert np.min(np.einsum("ij,ij->i", a, b)) > 0.9999


def test_repeated_completion_in_a_batch_is_embedded_once() -> None:
    e = OnnxMiniLM()
    group = ["no effusion", "left effusion", "no effusion", "no effusion", "left effusion", "normal"]
    v = e.embed(group)
    assert e.texts_encoded == 3  # three distinct texts, whatever the repeats
    assert e.model_calls == 1
    assert np.array_equal(v[0], v[2]) and np.array_equal(v[1], v[4])


def test_remembered_references_come_from_the_cache() -> None:
    e = OnnxMiniLM()
    refs = ["cardiomegaly", "left pleural effusion"]
    first = e.embed(refs, remember=True)
    encoded = e.texts_encoded
    again = e.embed(refs + ["cardiomegaly"], remember=True)
    assert e.texts_encoded == encoded, "a remembered reference is not embedded again"
    assert np.array_equal(first, again[:2])
    assert e.cache_info()["hits"] == 2
    e.embed(["pneumonia"])  # a completion (remember=False) is not kept
    e.embed(["pneumonia"])
    assert e.texts_encoded == encoded + 2


def test_cache_is_lru_bounded() -> None:
    e = OnnxMiniLM(cache_size=2)
    e.embed(["a"], remember=True)
    e.embed(["b"], remember=True)
    e.embed(["a"], remember=True)  # "a" becomes the most recent
    e.embed(["c"], remember=True)  # evicts "b"
    assert e.cache_info()["cached"] == 2
    before = e.texts_encoded
    e.embed(["a", "c"])
    assert e.texts_encoded == before
    e.embed(["b"])
    assert e.texts_encoded == before + 1


@pytest.mark.slow
def test_onnx_and_torch_backends_agree(onnx: OnnxMiniLM) -> None:
    torch_backend = TorchMiniLM()
    a, b = onnx.embed(MEDICAL_TEXTS), torch_backend.embed(MEDICAL_TEXTS)
    agreement = np.einsum("ij,ij->i", a, b)
    assert agreement.min() > 0.99, agreement
    # The pairwise similarities the reward uses agree too.
    assert np.abs(a @ a.T - b @ b.T).max() < 0.03


def test_missing_tokenizer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDREWARD_TOKENIZER_JSON", "/nonexistent/tokenizer.json")
    with pytest.raises(EmbedderUnavailableError, match="not a file"):
        OnnxMiniLM()


def test_loader_is_an_idempotent_singleton() -> None:
    first = load_default_embedder()
    assert load_default_embedder() is first
    status = embedder_status()
    assert status["loaded"] is True and status["dims"] == 384
    assert status["backend"] == first.backend and status["load_seconds"] is not None


def test_unknown_backend_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDREWARD_EMBEDDING_BACKEND", "word2vec")
    with pytest.raises(ValueError, match="onnx, torch"):
        loader.configured_backend()


def test_default_backend_loads_without_torch() -> None:
    """The service's default install has no torch: importing and loading must not need it."""
    code = (
        "import sys, scorers\n"
        "from scorers.semantic import load_default_embedder\n"
        "e = load_default_embedder()\n"
        "assert e.backend == 'onnx', e.backend\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
        "print('ok')\n"
    )
    env_clean = {k: v for k, v in __import__("os").environ.items() if k != "MEDREWARD_EMBEDDING_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_clean, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_concurrent_callers_share_model_passes_and_get_their_own_vectors(onnx: OnnxMiniLM) -> None:
    texts = [f"finding number {i} in the {'left' if i % 2 else 'right'} lower lobe" for i in range(48)]
    alone = {t: onnx.embed([t])[0] for t in texts}
    e = OnnxMiniLM(cache_size=0)
    barrier = threading.Barrier(len(texts))

    def call(t: str) -> np.ndarray:
        barrier.wait()
        return e.embed([t])[0]

    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        results = list(pool.map(call, texts))
    assert e.texts_encoded == len(texts)
    assert e.model_calls < len(texts), "concurrent single-text calls were coalesced into fewer passes"
    for t, v in zip(texts, results, strict=True):
        # Same vector as embedding the text alone: batch company never changes a result.
        assert np.allclose(v, alone[t], atol=1e-6)


class _FailingBackend(CachingEmbedder):
    """A backend whose model pass fails once, to check that every waiting caller is released."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.fail:
            time.sleep(0.05)
            raise RuntimeError("model pass failed")
        return np.ones((len(texts), self.dims), dtype=np.float32) / np.sqrt(self.dims)


def test_a_failed_pass_reaches_every_caller_and_does_not_wedge_the_queue() -> None:
    e = _FailingBackend()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(e.embed, [f"text {i}"]) for i in range(8)]
        errors = [f.exception(timeout=10) for f in futures]
    assert all(isinstance(err, RuntimeError) for err in errors)
    e.fail = False
    assert e.embed(["afterwards"]).shape == (1, 384)


def test_tokenizer_ships_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # One `pip install` must give a working ONNX backend: the bundled tokenizer.json is found
    # first, is byte-identical to all-MiniLM-L6-v2's, and is declared as package data.
    import hashlib
    import tomllib
    from pathlib import Path

    from scorers.semantic.embedder import BUNDLED_TOKENIZER, tokenizer_json_path

    monkeypatch.delenv("MEDREWARD_TOKENIZER_JSON", raising=False)
    assert tokenizer_json_path() == BUNDLED_TOKENIZER
    digest = hashlib.sha256(BUNDLED_TOKENIZER.read_bytes()).hexdigest()
    assert digest == "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    assert any(BUNDLED_TOKENIZER.match(p) for p in patterns)
