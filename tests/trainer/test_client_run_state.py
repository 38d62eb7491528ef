"""Client: export_run_state / restore_run_state against a live service (sync and async)."""

from __future__ import annotations

import asyncio

import pytest

from trainer.client import AsyncMedRewardClient, MedRewardClient
from trainer.results import MedRewardError
from trainer.service import EmbeddedService

ITEM = {"completion": "<think>t</think><answer>[10,10,40,50]</answer>", "boxes": [[10, 10, 50, 50]]}


def test_export_and_restore_round_trip(service_client: MedRewardClient) -> None:
    service_client.create_run("cs-1", "medloc", {"window": 2})
    service_client.score([ITEM | {"group": "g0"}], "grounding-medloc", run_id="cs-1", step=0, request_id="cs-1-0")
    saved = service_client.export_run_state("cs-1")
    assert saved["state"]["window"][0][2] == pytest.approx([0.75]), "raw IoUs travel with the state"
    service_client.reset_run("cs-1")
    assert service_client.get_run("cs-1")["groups"] == 0
    run = service_client.restore_run_state("cs-1", saved)
    assert run["groups"] == 1 and service_client.export_run_state("cs-1") == saved
    run = service_client.restore_run_state("cs-1-copy", saved | {"run_id": None})  # created when absent
    assert run["run_id"] == "cs-1-copy" and run["groups"] == 1
    with pytest.raises(MedRewardError) as info:
        service_client.restore_run_state("cs-bad", saved | {"state": {"tau": 3}})
    assert info.value.status == 422


def test_async_client_has_the_same_methods(embedded_service: EmbeddedService) -> None:
    async def go() -> dict[str, object]:
        async with AsyncMedRewardClient(embedded_service.url) as c:
            await c.create_run("cs-async", "fixed", {"tau": 0.5})
            saved = await c.export_run_state("cs-async")
            return await c.restore_run_state("cs-async-2", saved | {"run_id": None})

    assert asyncio.run(go())["tau"] == 0.5
