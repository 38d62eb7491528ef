"""MLAE and LoRA adapters: the authors' forward, expert-level masking, 1/(1−p) scaling, merge, injection."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.mlae import LoRALinear, MLAELinear, adapter_state_dict, inject_adapters, merge_adapters, unmerge_adapters


def _trained_mlae(p: float, r: int = 4) -> MLAELinear:
    torch.manual_seed(0)
    layer = MLAELinear(nn.Linear(6, 5), r=r, alpha=1.0, p=p)
    with torch.no_grad():  # B starts at zero; give it values so the update is not trivially zero
        layer.lora_B.normal_()
        layer.lora_lambda.copy_(torch.tensor([0.5, 1.0, -2.0, 3.0][:r]))
    return layer


def test_init_follows_the_authors_code() -> None:
    layer = MLAELinear(nn.Linear(6, 5), r=4, alpha=2.5, p=0.2)
    assert layer.lora_A.shape == (4, 6) and layer.lora_B.shape == (4, 5), "B is (r, out), not (out, r)"
    assert torch.all(layer.lora_B == 0) and torch.all(layer.lora_lambda == 2.5), "λ starts at α, not α/r"
    bound = 1 / 6**0.5  # kaiming_uniform(a=√5) on fan_in 6: U(-1/√fan_in, 1/√fan_in)
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.std() > 0
    x = torch.randn(3, 6)
    assert torch.equal(layer(x), layer.base(x)), "a fresh adapter changes nothing"


def test_forward_is_the_hand_computed_sum_of_experts() -> None:
    layer = _trained_mlae(p=0.0).eval()
    x = torch.randn(2, 6)
    # y = W₀x + b + Σᵢ λᵢ (aᵢᵀx) bᵢ, written out expert by expert
    expected = layer.base(x).clone()
    for i in range(4):
        expected += layer.lora_lambda[i] * (x @ layer.lora_A[i])[:, None] * layer.lora_B[i][None, :]
    torch.testing.assert_close(layer(x), expected)


def test_merged_output_equals_unmerged_with_p_zero() -> None:
    layer = _trained_mlae(p=0.0)
    x = torch.randn(7, 6)
    before = layer(x)
    w0 = layer.base.weight.clone()
    layer.merge()
    torch.testing.assert_close(layer(x), before)
    assert not torch.equal(layer.base.weight, w0)
    layer.unmerge()
    torch.testing.assert_close(layer.base.weight, w0)
    torch.testing.assert_close(layer(x), before)


def test_the_mask_drops_whole_experts_and_scales_the_kept_by_one_over_one_minus_p() -> None:
    layer = _trained_mlae(p=0.5).train()
    x = torch.randn(5, 3, 6)  # (batch, tokens, in): one mask for every token and sample of a call
    h = x @ layer.lora_A.T  # (5, 3, r)
    seen_patterns = set()
    for seed in range(40):
        torch.manual_seed(seed)
        got = layer(x) - layer.base(x)
        torch.manual_seed(seed)
        scales = layer.expert_scales()  # the same draw the forward made
        kept = scales != 0
        seen_patterns.add(tuple(kept.tolist()))
        # every kept expert carries λᵢ/(1−p) = 2λᵢ, every dropped one exactly 0
        torch.testing.assert_close(scales[kept], layer.lora_lambda[kept] / 0.5)
        torch.testing.assert_close(got, (h * scales) @ layer.lora_B)
    assert len(seen_patterns) > 4, "the mask is resampled on every forward"
    assert any(not all(p) for p in seen_patterns) and any(any(p) for p in seen_patterns)


def test_masks_are_drawn_per_module() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    inject_adapters(model, ["0", "1"], r=16, p=0.5)
    a, b = model[0], model[1]
    assert isinstance(a, MLAELinear) and isinstance(b, MLAELinear)
    torch.manual_seed(0)
    ma, mb = a.expert_scales() != 0, b.expert_scales() != 0
    assert not torch.equal(ma, mb)


def test_eval_uses_lambda_unscaled() -> None:
    layer = _trained_mlae(p=0.9).eval()
    torch.testing.assert_close(layer.expert_scales(), layer.lora_lambda)


def test_only_adapters_get_gradients() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    names = inject_adapters(model, ["re:^0$"], r=2, p=0.0)
    assert names == ["0"]
    model(torch.randn(4, 6)).sum().backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"0.lora_A", "0.lora_B", "0.lora_lambda"}
    for n, p in model.named_parameters():
        assert (p.grad is not None) == (n in trainable), n
    assert set(adapter_state_dict(model)) == trainable


@pytest.mark.parametrize("kind", ["mlae", "lora"])
def test_injection_by_glob_and_merge_of_a_whole_model(kind: str) -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict(
        {"attn": nn.ModuleDict({"q_proj": nn.Linear(4, 4), "k_proj": nn.Linear(4, 4)}), "mlp": nn.Linear(4, 4)}
    )
    names = inject_adapters(model, ["*_proj"], kind=kind, r=2, p=0.0)  # type: ignore[arg-type]
    assert names == ["attn.q_proj", "attn.k_proj"] and isinstance(model["mlp"], nn.Linear)
    q = model["attn"]["q_proj"]
    assert isinstance(q, MLAELinear if kind == "mlae" else LoRALinear)
    with torch.no_grad():
        q.lora_B.normal_()
    x = torch.randn(3, 4)
    model.eval()
    before = q(x)
    merge_adapters(model)
    torch.testing.assert_close(q(x), before)
    unmerge_adapters(model)
    torch.testing.assert_close(q(x), before)


def test_lora_scales_by_alpha_over_r() -> None:
    layer = LoRALinear(nn.Linear(3, 2), r=2, alpha=8.0)
    with torch.no_grad():
        layer.lora_B.fill_(1.0)
    x = torch.randn(1, 3)
    torch.testing.assert_close(layer(x) - layer.base(x), 4.0 * (x @ layer.lora_A.T).sum(-1, keepdim=True).expand(1, 2))


def test_bad_arguments_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="no nn.Linear"):
        inject_adapters(nn.Sequential(nn.Linear(2, 2)), ["nothing"])
    with pytest.raises(ValueError, match="drop probability"):
        MLAELinear(nn.Linear(2, 2), p=1.0)
    with pytest.raises(ValueError, match="rank"):
        MLAELinear(nn.Linear(2, 2), r=0)


def test_disabled_adapters_give_the_base_model() -> None:
    from trainer.mlae import adapters_disabled

    layer = _trained_mlae(p=0.0)
    model = nn.Sequential(layer)
    x = torch.randn(2, 6)
    with adapters_disabled(model):
        torch.testing.assert_close(model(x), layer.base(x))
    assert not torch.allclose(model(x), layer.base(x))
