"""The AReaL shim run the way AReaL's ``AsyncRewardWrapper`` runs a reward function.

AReaL submits ``functools.partial(reward_fn, prompt, completions, prompt_ids, completion_ids, **data)``
to a shared ``ProcessPoolExecutor`` through ``loop.run_in_executor`` and waits 15 s at most.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Server, free_port
from trainer import MedRewardError
from trainer.integrations.areal import make_reward_fn, reward_fn

FORMATTED = "<think>no visible pleural line</think><answer>{}</answer>"
AREAL_TIMEOUT = 15.0  # AsyncRewardWrapper's timeout_seconds


def areal_calls(fn: Callable[..., float], samples: list[dict[str, Any]], workers: int = 2) -> list[float]:
    async def run(pool: ProcessPoolExecutor) -> list[float]:
        loop = asyncio.get_running_loop()
        futures = [
            loop.run_in_executor(
                pool,
                functools.partial(fn, s["prompt"], s["completion"], [1, 2, 3], [4] * 12, **s["data"]),
            )
            for s in samples
        ]
        return list(await asyncio.wait_for(asyncio.gather(*futures), AREAL_TIMEOUT))

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return asyncio.run(run(pool))


def test_reward_fn_in_a_process_pool(medreward_env: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDREWARD_PROFILE", "vqa-closed")
    samples = [
        {"prompt": "Is there a pneumothorax?", "completion": FORMATTED.format(a), "data": {"answer": "no", "qid": 7}}
        for a in ("no", "yes", "no", "maybe")
    ]
    started = time.perf_counter()
    rewards = areal_calls(reward_fn, samples)
    elapsed = time.perf_counter() - started
    assert rewards == [pytest.approx(x) for x in (1.0, 0.2, 1.0, 0.2)]
    assert all(isinstance(r, float) for r in rewards)
    print(f"\n4 AReaL calls through a process pool: {elapsed:.2f}s")


def test_configured_fn_pickles_into_the_pool(medreward_env: Server) -> None:
    fn = make_reward_fn("vqa-mcq")
    samples = [
        {
            "prompt": "Which finding?",
            "completion": FORMATTED.format(letter),
            "data": {"answer": "B", "options": {"A": "effusion", "B": "edema"}},
        }
        for letter in ("B", "A")
    ]
    assert areal_calls(fn, samples) == [pytest.approx(1.0), pytest.approx(0.2)]


def test_unreachable_service_fails_inside_areals_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: the call must raise (AReaL re-raises) before AReaL's 15 s are up,
    # rather than be cut off and silently scored 0.
    fn = make_reward_fn("vqa-closed", base_url=f"http://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    with pytest.raises(MedRewardError) as info:
        areal_calls(fn, [{"prompt": "q", "completion": FORMATTED.format("no"), "data": {"answer": "no"}}], workers=1)
    assert info.value.code == "unreachable"
    assert time.perf_counter() - started < AREAL_TIMEOUT


def test_abstention_returns_the_abstain_value_and_warns(
    medreward_env: Server, caplog: pytest.LogCaptureFixture
) -> None:
    fn = make_reward_fn("vqa-closed", abstain_value=-0.5)
    with caplog.at_level("WARNING", logger="trainer.integrations.areal"):
        reward = fn("Effusion?", FORMATTED.format("no"), [1], [2], question_id=4)  # no answer column
    assert reward == -0.5  # AReaL takes a float: never the format credit
    assert "abstained" in caplog.text and "answer" in caplog.text
