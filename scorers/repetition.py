"""The ``repetition`` reward: open-r1's and TRL's n-gram repetition penalty.

"Demystifying Long Chain-of-Thought Reasoning in LLMs" (Yeo et al., arXiv 2502.03373,
Appendix C.2) penalises a completion by the share of its n-grams that repeat an earlier one:
``reward = (1 − unique n-grams / all n-grams) · max_penalty``. open-r1's
``get_repetition_penalty_reward`` (huggingface/open-r1, ``src/open_r1/rewards.py``) reads
n-grams of lower-cased whitespace words; TRL's (``trl/rewards``) reads the same formula over
token ids. Defaults as open-r1's config: ``repetition_n_grams=3``, ``repetition_max_penalty=-1.0``.
A completion that is empty or has fewer words than ``ngram_size`` gets 0 (no n-gram, no
penalty), as in both. A positive ``max_penalty`` is refused (they raise ValueError; here the
request is a 4xx). Range [max_penalty, 0] ⊂ [−1, 0].
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from scorers.registry import Params, register
from scorers.types import Item, Score

# A completion longer than this (in words) is cut before counting: n-gram counting is linear, and
# the bound keeps a flood of 100k words to a few milliseconds.
MAX_WORDS = 50_000


class RepetitionParams(Params):
    """Params of the ``repetition`` reward."""

    # open-r1 config defaults (GRPOScriptArguments): repetition_n_grams=3, repetition_max_penalty=-1.0
    ngram_size: int = Field(default=3, ge=1, le=64, description="Size of the word n-grams.")
    max_penalty: float = Field(
        default=-1.0, ge=-1.0, le=0.0, description="Reward of a completion made of one repeated n-gram (≤ 0)."
    )


def repetition_penalty(words: Sequence[str], ngram_size: int, max_penalty: float) -> float:
    """``(1 − unique/total n-grams) · max_penalty``; 0 when there are fewer words than ``ngram_size``.

    >>> repetition_penalty("this this this this this".split(), 2, -1.0)
    -0.75
    >>> round(repetition_penalty("this is a this is a test".split(), 2, -1.0), 4)
    -0.3333
    """
    total = len(words) - ngram_size + 1
    if total <= 0:
        return 0.0
    unique = len({tuple(words[i : i + ngram_size]) for i in range(total)})
    scaling = 1.0 - unique / total
    return scaling * max_penalty if scaling else 0.0


@register(
    "repetition",
    params=RepetitionParams,
    range=(-1.0, 0.0),
    description="N-gram repetition penalty over the completion's lower-cased words: "
    "(1 - unique/total n-grams) * max_penalty (open-r1 / TRL get_repetition_penalty_reward; defaults n=3, -1.0).",
    citation="Yeo et al., Demystifying Long Chain-of-Thought Reasoning in LLMs, arXiv 2502.03373, App. C.2; "
    "huggingface/open-r1 src/open_r1/rewards.py; huggingface/trl trl/rewards.",
    examples=[
        {"completion": "<think>The left lung is clear.</think><answer>no effusion</answer>"},
        {"completion": "<think>I see I see I see I see I see</think><answer>yes</answer>"},
    ],
)
def repetition_reward(items: Sequence[Item], params: RepetitionParams) -> list[Score]:
    """Penalise repeated n-grams in each completion; range [max_penalty, 0].

    >>> from scorers import score
    >>> [s.reward for s in score("repetition", [{"completion": "a b c a b c"}], {"ngram_size": 2})]
    [-0.4]
    """
    n, penalty = params.ngram_size, params.max_penalty
    out: list[Score] = []
    for item in items:
        words = item.completion.lower().split()[:MAX_WORDS]
        reward = repetition_penalty(words, n, penalty)
        out.append(Score.ok(reward, words=len(words)))
    return out
