"""The repetition reward against open-r1's and TRL's published expectations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scorers import score

# open-r1 tests/test_rewards.py TestRepetitionPenaltyReward (word n-grams, lower-cased)
OPEN_R1 = [
    ("this is a test sentence", 2, -1.0, 0.0, "no repetition"),
    ("this this this this this", 2, -1.0, -0.75, "full repetition: (1 - 1/4) * -1"),
    ("this is a this is a test", 2, -1.0, -1 / 3, "partial: 4 unique of 6 bigrams"),
    ("This THIS this", 2, -1.0, -0.5, "lower-cased before counting"),
    ("", 3, -1.0, 0.0, "empty: no penalty"),
    ("two words", 3, -1.0, 0.0, "fewer words than ngram_size: no penalty"),
]
# TRL tests/test_rewards.py TestRepetitionPenaltyReward (token ids, here written as words)
TRL = [
    ("1 2 3 4", 2, -1.0, 0.0, "no repetition yields zero"),
    ("5 5 5 5 5", 2, -1.0, -0.75, "full repetition approaches max_penalty"),
    ("1 2 1 2 1 2", 2, -1.0, -0.6, "partial: 2 unique of 5 bigrams"),
    ("1 2", 3, -1.0, 0.0, "shorter than ngram_size"),
    ("1 2 3", 3, -1.0, 0.0, "exactly one n-gram"),
    ("5 5 5 5 5", 2, -0.5, -0.375, "max_penalty scales the reward"),
    ("1 2 3 1 2 3", 2, -1.0, -0.4, "bigrams: 3 unique of 5"),
    ("1 2 3 1 2 3", 3, -1.0, -0.25, "trigrams: 3 unique of 4"),
]


@pytest.mark.parametrize(
    ("text", "n", "penalty", "expected", "note"), OPEN_R1 + TRL, ids=[c[-1] for c in OPEN_R1 + TRL]
)
def test_published_expectations(text: str, n: int, penalty: float, expected: float, note: str) -> None:
    s = score("repetition", [{"completion": text}], {"ngram_size": n, "max_penalty": penalty})[0]
    assert s.reward == pytest.approx(expected), note


def test_defaults_are_open_r1s() -> None:
    # repetition_n_grams=3, repetition_max_penalty=-1.0: "a b c a b c" has 4 trigrams, 3 unique
    assert score("repetition", [{"completion": "a b c a b c"}])[0].reward == pytest.approx(-0.25)


def test_batch_matches_trl_batch_example() -> None:
    items = [{"completion": "1 2 3 4"}, {"completion": "5 5 5 5 5"}, {"completion": "9"}]
    rewards = [s.reward for s in score("repetition", items, {"ngram_size": 2})]
    assert rewards == pytest.approx([0.0, -0.75, 0.0])


@pytest.mark.parametrize("penalty", [0.5, 1.5], ids=str)
def test_positive_max_penalty_is_refused(penalty: float) -> None:
    with pytest.raises(ValidationError, match="max_penalty"):
        score("repetition", [{"completion": "a a a"}], {"max_penalty": penalty})
