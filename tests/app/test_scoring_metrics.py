"""`timed_score` counts abstentions once per item, and refuses a malformed item, whichever way it checks."""

from __future__ import annotations

import pytest

from app.api.errors import ApiError
from app.metrics import ABSTENTIONS
from app.scoring import timed_score
from scorers import get_reward

BOX = {"completion": "<answer>[24, 20, 84, 90]</answer>", "boxes": [[20, 20, 80, 90]]}


def _abstained(status: str) -> float:
    return ABSTENTIONS.labels(reward="iou", status=status)._value.get()  # type: ignore[no-any-return]


def test_abstentions_are_counted_and_a_complete_batch_counts_none() -> None:
    params = get_reward("iou").params()
    before = _abstained("unscorable")
    timed_score("iou", [BOX, BOX], params)  # type: ignore[list-item]
    assert _abstained("unscorable") == before
    no_box = {"completion": "<answer>none</answer>", "boxes": [[20, 20, 80, 90]]}
    scores = timed_score("iou", [BOX, no_box, no_box], get_reward("iou").params(missing="unscorable"))  # type: ignore[list-item]
    assert [s.reward is None for s in scores] == [False, True, True]
    assert _abstained("unscorable") == before + 2


def test_a_malformed_item_is_refused_naming_its_field() -> None:
    flat = {"completion": "<answer>[24, 20, 84, 90]</answer>", "boxes": [[20, 20, 20, 90]]}
    with pytest.raises(ApiError) as caught:
        timed_score("iou", [BOX, flat], get_reward("iou").params())  # type: ignore[list-item]
    assert (caught.value.status, caught.value.code) == (422, "invalid_item")
    assert caught.value.field == "items[1].boxes"
