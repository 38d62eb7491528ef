"""GRPO maths against values worked out by hand: advantages (grpo, dr_grpo), abstentions, dead groups, loss, KL."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.grpo import group_advantages, grpo_loss, k3_kl

NAN = float("nan")


@pytest.mark.parametrize(
    ("rewards", "kind", "expected", "dead"),
    [
        # mean 2/3 over the three scored; centred (1/3, -2/3, ·, 1/3); unbiased var (1/9+4/9+1/9)/2 = 1/3
        (
            [[1, 0, NAN, 1]],
            "grpo",
            [[(1 / 3) / (3**-0.5 + 1e-4), (-2 / 3) / (3**-0.5 + 1e-4), 0, (1 / 3) / (3**-0.5 + 1e-4)]],
            [False],
        ),
        # Dr. GRPO: the same, without the std division
        ([[1, 0, NAN, 1]], "dr_grpo", [[1 / 3, -2 / 3, 0, 1 / 3]], [False]),
        # all equal: nothing to learn, a dead group (advantages exactly 0, no 0/0)
        ([[0.5, 0.5, 0.5, 0.5]], "grpo", [[0, 0, 0, 0]], [True]),
        # one scored item: no baseline to compare against, dead
        ([[NAN, 0.7, NAN, NAN]], "grpo", [[0, 0, 0, 0]], [True]),
        # every item abstained
        ([[NAN, NAN]], "dr_grpo", [[0, 0]], [True]),
        # two groups are independent: (3, 1) → ±1 / (√2 + ε) ; (0, 0) dead
        ([[3, 1], [0, 0]], "grpo", [[1 / (2**0.5 + 1e-4), -1 / (2**0.5 + 1e-4)], [0, 0]], [False, True]),
        # std division rescales small differences up (the difficulty bias Dr. GRPO removes)
        ([[0.51, 0.49]], "grpo", [[0.01 / (0.02 / 2**0.5 + 1e-4), -0.01 / (0.02 / 2**0.5 + 1e-4)]], [False]),
        ([[0.51, 0.49]], "dr_grpo", [[0.01, -0.01]], [False]),
    ],
    ids=["abstain", "dr-abstain", "all-equal", "one-scored", "all-abstain", "two-groups", "small-gap", "dr-small-gap"],
)
def test_group_advantages(
    rewards: list[list[float]], kind: str, expected: list[list[float]], dead: list[bool]
) -> None:
    adv, is_dead = group_advantages(torch.tensor(rewards), kind)  # type: ignore[arg-type]
    torch.testing.assert_close(adv, torch.tensor(expected, dtype=torch.float32), rtol=1e-5, atol=1e-6)
    assert is_dead.tolist() == dead


def test_unknown_advantage_kind() -> None:
    with pytest.raises(ValueError, match="grpo"):
        group_advantages(torch.tensor([[1.0, 0.0]]), "ppo")  # type: ignore[arg-type]


def test_k3_kl_by_hand() -> None:
    logp, ref = torch.tensor([-1.0, -2.0, -0.5]), torch.tensor([-2.0, -2.0, 0.0])
    expected = [math.exp(-1) + 1 - 1, 0.0, math.exp(0.5) - 0.5 - 1]
    torch.testing.assert_close(k3_kl(logp, ref), torch.tensor(expected))


# Two completions: the first two tokens long, the second one token (then padding).
MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
ADV = torch.tensor([2.0, -1.0])


def test_loss_without_clipping_grpo_and_dr_grpo() -> None:
    logp = torch.zeros(2, 2)
    # ratio 1: per-token loss −A. grpo: mean per completion (−2, +1), then over completions → −0.5
    loss, stats = grpo_loss(logp, logp, None, ADV, MASK, kind="grpo", beta=0.0)
    assert loss.item() == pytest.approx(-0.5) and stats["clip_frac"] == 0.0
    # dr_grpo: token sum (−2 −2 +1 = −3) over N × max_tokens = 2 × 4
    loss, _ = grpo_loss(logp, logp, None, ADV, MASK, kind="dr_grpo", beta=0.0, max_tokens=4)
    assert loss.item() == pytest.approx(-3 / 8)


def test_loss_clips_the_ratio() -> None:
    old = torch.zeros(2, 2)
    logp = torch.tensor([[0.5, 0.0], [math.log(0.5), 0.0]])
    # token (0,0): ratio e^0.5 ≈ 1.65, A = 2 → min(3.30, 1.2·2) = 2.4; token (0,1): 2; token (1,0):
    # ratio 0.5, A = −1 → min(−0.5, 0.8·−1) = −0.8. grpo: ((−2.4 − 2)/2 + 0.8)/2 = −0.7
    loss, stats = grpo_loss(logp, old, None, ADV, MASK, kind="grpo", beta=0.0, clip_eps=0.2)
    assert loss.item() == pytest.approx(-0.7)
    assert stats["clip_frac"] == pytest.approx(2 / 3)


def test_kl_penalty_adds_beta_times_k3() -> None:
    logp = torch.zeros(2, 2)
    ref = torch.tensor([[-1.0, 0.0], [0.0, 0.0]])
    loss, stats = grpo_loss(logp, logp, ref, torch.zeros(2), MASK, kind="grpo", beta=0.1)
    k3 = math.exp(-1)  # e^-1 − (−1) − 1
    assert loss.item() == pytest.approx((0.1 * k3 / 2 + 0.0) / 2)
    assert stats["kl"] == pytest.approx(k3 / 3)


def test_gradient_is_minus_advantage_over_length_and_zero_for_abstained() -> None:
    logp = torch.zeros(3, 2, requires_grad=True)
    adv = torch.tensor([2.0, 0.0, -1.0])  # the middle completion was abstained on: advantage 0
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    loss, _ = grpo_loss(logp, logp.detach(), None, adv, mask, kind="grpo", beta=0.0)
    loss.backward()
    assert logp.grad is not None
    expected = torch.tensor([[-2 / 2 / 3, -2 / 2 / 3], [0.0, 0.0], [1 / 3, 0.0]])
    torch.testing.assert_close(logp.grad, expected)


@pytest.mark.parametrize("kind", ["grpo", "dr_grpo"])
def test_accumulated_micro_batches_equal_the_full_batch(kind: str) -> None:
    torch.manual_seed(0)
    logp = torch.randn(4, 3, requires_grad=True)
    old, ref, adv = logp.detach() + 0.1 * torch.randn(4, 3), torch.randn(4, 3), torch.randn(4)
    mask = torch.tensor([[1.0, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]])
    full, _ = grpo_loss(logp, old, ref, adv, mask, kind=kind, max_tokens=3)  # type: ignore[arg-type]
    parts = sum(
        grpo_loss(logp[r], old[r], ref[r], adv[r], mask[r], kind=kind, n_total=4, max_tokens=3)[0]  # type: ignore[arg-type]
        for r in (slice(0, 1), slice(1, 4))
    )
    torch.testing.assert_close(parts, full)
