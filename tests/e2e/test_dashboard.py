"""The dashboard in a real headless Chromium against a real ``medreward serve``.

Debian's ``chromium`` (``apt-get install chromium``) driven by Playwright for Python (``pip install
playwright``; never ``playwright install``: no browser is downloaded). The test feeds a run over
HTTP, opens the page with the tenant's key, checks what the page shows, feeds another step and
waits for the page to update; another tenant's key does not show the run. With
``MEDREWARD_DASHBOARD_SCREENSHOT=path`` it also saves the screenshot the README shows.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import KEYS, Server, server_env

CHROMIUM = "/usr/bin/chromium"
BOX = [[40, 40, 120, 120]]
HIT = "<think>The lesion sits in the upper left.</think><answer>[42, 38, 118, 121]</answer>"
MISS = "<think>The lesion sits lower down.</think><answer>[150, 150, 220, 230]</answer>"
MISS_NO_THINK = "<answer>[150, 150, 220, 230]</answer>"
# IoU at τ 0.5 plus a small format term: the shape of a grounding run (MedLoc-R1's reward + format).
PROFILE = {
    "components": [
        {"reward": "iou", "weight": 0.8, "params": {"mode": "threshold"}},
        {"reward": "format", "weight": 0.2},
    ],
    "scheduler": {"type": "fixed", "config": {"tau": 0.5}},
}


# The same with MedLoc-R1's schedule over a short window, so that τ rises within a short test.
MEDLOC_PROFILE = {**PROFILE, "scheduler": {"type": "medloc", "config": {"window": 8}}}


def _item(completion: str, group: str) -> dict[str, object]:
    return {"completion": completion, "boxes": BOX, "group": group}


def hand_step(step: int) -> list[dict[str, object]]:
    """Three groups of 2 with known verdicts: dead (all hit), phantom (all miss, format differs), live."""
    return [
        _item(HIT, f"s{step}-dead"),
        _item(HIT, f"s{step}-dead"),
        _item(MISS, f"s{step}-phantom"),
        _item(MISS_NO_THINK, f"s{step}-phantom"),
        _item(HIT, f"s{step}-live"),
        _item(MISS, f"s{step}-live"),
    ]


def training_step(step: int, rng: random.Random, groups: int = 8, size: int = 4) -> list[dict[str, object]]:
    """A plausible step: the policy's hit rate climbs over training."""
    p_hit = min(0.1 + 0.07 * step, 0.95)
    items = []
    for g in range(groups):
        for _ in range(size):
            text = HIT if rng.random() < p_hit else (MISS if rng.random() < 0.7 else MISS_NO_THINK)
            items.append(_item(text, f"s{step}-g{g}"))
    return items


def score(
    client: httpx.Client, run_id: str, step: int, items: list[dict[str, object]], profile: object = PROFILE
) -> None:
    r = client.post("/v1/score", json={"profile": profile, "items": items, "run_id": run_id, "step": step})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def insight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No embedding model (faster start); a dead-group warning after 2 steps above 0.3."""
    env = server_env(
        MEDREWARD_LOAD_MODELS="false", MEDREWARD_DEAD_GROUP_WARN="0.3", MEDREWARD_DEAD_GROUP_WARN_STEPS="2"
    )
    srv = Server(tmp_path_factory.mktemp("insight") / "runs.db", env).start()
    yield srv
    assert srv.stop() == 0, srv.logs()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


def _client(server: Server, tenant: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEYS[tenant]}"}, timeout=30.0)


def test_dashboard_shows_a_run_and_follows_new_reports(insight_server: Server, browser: Browser) -> None:
    run_id = f"dash-{uuid.uuid4().hex[:8]}"
    alice = _client(insight_server, "alice")
    score(alice, run_id, 1, hand_step(1))
    page: Page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The key in the fragment: never sent to the server, wiped from the address bar by the page.
    page.goto(f"{insight_server.url}/dashboard?run={run_id}#api_key={KEYS['alice']}")
    assert "api_key" not in page.url
    expect(page.locator(f'#runs tr[data-run="{run_id}"]')).to_be_visible(timeout=10_000)
    panel = page.locator("#run-panel")
    expect(panel).to_have_attribute("data-last-step", "1", timeout=10_000)
    # One dead, one phantom, one live group: a third each.
    expect(page.locator("#card-dead")).to_have_text("33.3%")
    expect(page.locator("#card-phantom")).to_have_text("33.3%")
    expect(page.locator("#card-tau")).to_have_text("0.50")
    expect(page.locator("#components tbody tr")).to_have_count(2)
    expect(page.locator("#warnings .warning")).to_have_count(0)
    assert page.locator("#chart-hist canvas").count() == 1 and page.locator("#chart-rates canvas").count() == 1

    # A new step arrives: the page polls and shows it, and the warning (2 steps above 0.3) appears.
    score(alice, run_id, 2, hand_step(2))
    score(alice, run_id, 3, hand_step(3)[:2])  # starting step 3 judges steps 1 and 2 for the warning
    expect(panel).to_have_attribute("data-last-step", "3", timeout=10_000)
    expect(page.locator("#card-items")).to_have_text("14")
    expect(page.locator("#warnings .warning")).to_contain_text("dead-group rate above 0.30")
    assert not errors, errors

    # Bob logs in through the form and does not see Alice's run.
    other = browser.new_page()
    other.goto(f"{insight_server.url}/dashboard")
    expect(other.locator("#login")).to_be_visible()
    other.fill("#api-key", KEYS["bob"])
    other.click("#login button")
    expect(other.locator("#status")).to_contain_text("updated", timeout=10_000)
    assert other.locator(f'#runs tr[data-run="{run_id}"]').count() == 0
    other.close()
    page.close()
    alice.close()


def test_explain_page_shows_the_rule_and_normalised_forms(insight_server: Server, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{insight_server.url}/dashboard/explain#api_key={KEYS['alice']}")
    page.click("#explain button")
    answer = page.locator('[data-component="answer"]')
    expect(answer).to_contain_text("negation_mismatch", timeout=10_000)
    expect(answer).to_contain_text("no pneumothorax")
    expect(page.locator("#total")).to_contain_text("total")
    page.close()


def test_a_long_run_renders_every_chart(insight_server: Server, browser: Browser, tmp_path: Path) -> None:
    """15 steps of a plausible run; the screenshot goes to MEDREWARD_DASHBOARD_SCREENSHOT (the README's) if set."""
    run_id = f"grounding-demo-{uuid.uuid4().hex[:4]}"
    alice = _client(insight_server, "alice")
    rng = random.Random(7)
    for step in range(1, 16):
        score(alice, run_id, step, training_step(step, rng), MEDLOC_PROFILE)
    page = browser.new_page(viewport={"width": 1440, "height": 1020})
    page.goto(f"{insight_server.url}/dashboard?run={run_id}#api_key={KEYS['alice']}")
    expect(page.locator("#run-panel")).to_have_attribute("data-last-step", "15", timeout=10_000)
    expect(page.locator("#card-items")).to_have_text(str(15 * 8 * 4))
    for chart in ("rates", "tau", "components", "hist"):
        expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
    stats = alice.get(f"/v1/runs/{run_id}/stats").json()
    assert [s["step"] for s in stats["steps"]] == list(range(1, 16))
    # The hit rate climbs: all-miss groups spread only by the format term (phantom) give way to
    # all-hit groups (dead), and MedLoc-R1 raises τ once its window is good enough.
    rates = [(s["phantom_group_rate"], s["dead_group_rate"]) for s in stats["steps"]]
    assert sum(p for p, _ in rates[:5]) > sum(p for p, _ in rates[-5:])
    assert sum(d for _, d in rates[:5]) < sum(d for _, d in rates[-5:])
    assert stats["raises"] and stats["steps"][-1]["tau"] > stats["steps"][0]["tau"]
    expect(page.locator("#window tbody tr")).to_have_count(4)
    out = Path(os.environ.get("MEDREWARD_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    page.wait_for_timeout(300)
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 20_000
    page.close()
    alice.close()
