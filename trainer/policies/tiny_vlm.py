"""A tiny from-scratch vision-language policy: a small CNN reads the image, a small decoder writes the answer.

It answers grounding prompts with ``<think>…</think><answer>[x1,y1,x2,y2]</answer>`` and choice
prompts with ``<think>…</think><answer>B</answer>``. Decoding is *constrained to the template*: the
fixed characters are written for it, and the policy chooses only the free tokens (four coordinates,
with x2 > x1 and y2 > y1 enforced by masking, or one option letter). That is what makes GRPO on
boxes learn in minutes on a CPU: every sample is well-formed, so the reward speaks only about the
box, and the action space is four categorical choices over pixel positions rather than hundreds of
characters. The reasoning span is rendered from the chosen box (``describe_box``).

Size: about 0.2M parameters at the defaults; one GRPO step of 8 prompts × 8 samples takes tens of
milliseconds of compute on one CPU core.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from trainer.policies.base import Rollout, Sample
from trainer.tasks.base import Example
from trainer.tasks.grounding import describe_box

LETTERS = "ABCDE"
_BOX = re.compile(r"<answer>\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]\s*</answer>")
_LETTER = re.compile(r"<answer>\s*([A-E])\s*</answer>")


class TinyVLMNet(nn.Module):
    """A fully convolutional encoder and an autoregressive pointer decoder over the template's free tokens.

    Encoder: image + x/y coordinate channels (CoordConv) → a feature map at full resolution,
    (B, C, H, W), dilated convolutions giving each pixel a view of its neighbourhood (lesion edges).
    Decoder: the state before token t sums a slot embedding and embeddings of the tokens chosen so
    far (autoregressive); an MLP turns it into a query q_t. A coordinate token *points* into the
    image: the score map ⟨q_t, F[:, y, x]⟩ is reduced over rows (for x) or columns (for y) with a
    log-sum-exp, so column j's logit says "an edge at x = j" wherever the lesion is (translation
    equivariance is why this learns in a few hundred CPU steps where a generic decoder does not).
    x2 and y2 also get a learned bias by their distance from x1 and y1 (a size prior). An option
    letter is read from the pooled features.
    """

    coords: torch.Tensor  # (2, H, W) x/y in [-1, 1], a buffer

    def __init__(self, size: int = 64, channels: int = 16, d: int = 64, max_slots: int = 4) -> None:
        super().__init__()
        self.size = size
        self.n_coord = size + 1  # box edges 0..size
        self.vocab = self.n_coord + len(LETTERS)
        c = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=4, dilation=4),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1),
        )
        self.tok_emb = nn.Embedding(max_slots * (self.vocab + 1), d)  # a token's meaning depends on its slot
        self.slot_emb = nn.Embedding(max_slots, d)
        self.query = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, c))
        self.rel_bias = nn.Parameter(torch.zeros(2, self.n_coord))  # x2 − x1, y2 − y1
        self.letter_head = nn.Sequential(nn.Linear(2 * c + d, d), nn.GELU(), nn.Linear(d, len(LETTERS)))
        lin = torch.linspace(-1, 1, size)
        self.register_buffer("coords", torch.stack(torch.meshgrid(lin, lin, indexing="xy")), persistent=False)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W) → feature map (B, C, H, W)."""
        b = images.shape[0]
        return self.encoder(torch.cat([images[:, None], self.coords.expand(b, -1, -1, -1)], dim=1))

    def logits(self, feats: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of every free token given the ones before it (teacher forcing): (B, T) → (B, T, V)."""
        b, t = tokens.shape
        slot_ids = torch.arange(t)
        emb = self.tok_emb(tokens + slot_ids * (self.vocab + 1))  # (B, T, d)
        prefix = torch.cumsum(emb, dim=1) - emb  # Σ of the tokens before each position
        state = self.slot_emb(slot_ids) + prefix  # (B, T, d)
        q = self.query(state)  # (B, T, C)
        score = torch.einsum("btc,bchw->bthw", q, feats)  # (B, T, H, W)
        col = torch.logsumexp(score, dim=2)  # (B, T, W): an edge at column x
        row = torch.logsumexp(score, dim=3)  # (B, T, H): an edge at row y
        out = torch.full((b, t, self.vocab), -1e4, dtype=feats.dtype)
        w = self.size
        for i in range(min(t, 4)):
            line = col[:, i] if i % 2 == 0 else row[:, i]  # x1, y1, x2, y2
            if i < 2:
                out[:, i, :w] = line  # x1/y1 = j: the lesion starts at pixel j
            else:
                dist = torch.arange(1, w + 1)[None, :] - tokens[:, i - 2, None]  # x2 − x1 for x2 = j + 1
                out[:, i, 1 : w + 1] = line + self.rel_bias[i - 2][dist.clamp(0, w)]
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)  # (B, 2C)
        letters = self.letter_head(torch.cat([pooled[:, None].expand(b, t, -1), state], dim=-1))
        out[..., self.n_coord :] = letters
        return out


def allowed_mask(slots: str, prefix: torch.Tensor, n_coord: int, vocab: int) -> torch.Tensor:
    """Which tokens the template allows at the next position, given the tokens so far, (B, V) bool.

    >>> m = allowed_mask("box", torch.tensor([[3]]), n_coord=9, vocab=14)  # after x1 = 3, choosing y1
    >>> m[0].nonzero().flatten().tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> m = allowed_mask("box", torch.tensor([[3, 1]]), n_coord=9, vocab=14)  # x2 must exceed x1 = 3
    >>> m[0].nonzero().flatten().tolist()
    [4, 5, 6, 7, 8]
    """
    b, t = prefix.shape
    idx = torch.arange(vocab)
    if slots == "box":
        if t < 2:  # x1, y1: any edge but the last
            return (idx < n_coord - 1).expand(b, vocab).clone()
        low = prefix[:, t - 2]  # x2 > x1, y2 > y1
        return (idx[None, :] > low[:, None]) & (idx[None, :] < n_coord)
    if slots.startswith("choice:"):
        letters = slots.split(":", 1)[1]
        ok = torch.zeros(vocab, dtype=torch.bool)
        for ch in letters:
            ok[n_coord + LETTERS.index(ch)] = True
        return ok.expand(b, vocab).clone()
    raise ValueError(f"the tiny VLM writes boxes or option letters, not {slots!r}")


def n_slots(slots: str) -> int:
    return 4 if slots == "box" else 1


class TinyVLM:
    """The policy wrapper GRPO drives (see `trainer.policies.base.Policy`)."""

    def __init__(self, size: int = 64, channels: int = 16, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = TinyVLMNet(size=size, channels=channels)
        self.reference: TinyVLMNet | None = None

    # ----- helpers -----------------------------------------------------------------------------
    def _images(self, examples: Sequence[Example]) -> torch.Tensor:
        images = [ex.image for ex in examples if ex.image is not None]
        if len(images) != len(examples):
            raise ValueError("the tiny VLM needs an image with every example (use an image task)")
        return torch.from_numpy(np.stack(images)).float()  # (B, H, W)

    @staticmethod
    def _slots(examples: Sequence[Example]) -> str:
        kinds = {ex.slots for ex in examples}
        if len(kinds) != 1:
            raise ValueError(f"one kind of answer per batch, got {sorted(kinds)}")
        return kinds.pop()

    @staticmethod
    def _info(slots: str) -> dict[str, object]:
        return {"slots": slots, "per_prompt": ("images",)}

    def _render(self, slots: str, tokens: list[int]) -> str:
        if slots == "box":
            return f"<think>{describe_box(tokens)}</think><answer>[{','.join(map(str, tokens))}]</answer>"
        letter = LETTERS[tokens[0] - self.model.n_coord]
        return f"<think>the finding matches option {letter}</think><answer>{letter}</answer>"

    def _token_logprobs(self, net: TinyVLMNet, rollout: Rollout, temperature: float) -> torch.Tensor:
        tokens, images = rollout.batch["tokens"], rollout.batch["images"]  # (N, T), (P, H, W)
        slots = rollout.info["slots"]
        feats = net.encode(images)[rollout.batch["prompt"]]  # each prompt's image encoded once → (N, C, H, W)
        logits = net.logits(feats, tokens) / temperature  # (N, T, V)
        allowed = torch.stack(
            [allowed_mask(slots, tokens[:, :t], net.n_coord, net.vocab) for t in range(tokens.shape[1])], dim=1
        )
        logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
        return logp.gather(-1, tokens[..., None]).squeeze(-1)  # (N, T)

    # ----- the Policy interface ----------------------------------------------------------------
    @torch.no_grad()
    def generate(self, examples: Sequence[Example], group_size: int, temperature: float) -> Rollout:
        net, slots = self.model, self._slots(examples)
        images = self._images(examples)  # (B, H, W)
        prompt = torch.arange(len(examples)).repeat_interleave(group_size)  # (B*G,)
        feats = net.encode(images)[prompt]  # (B*G, C, H, W)
        n = prompt.shape[0]
        tokens = torch.empty(n, 0, dtype=torch.long)
        for _ in range(n_slots(slots)):
            dummy = torch.cat([tokens, torch.zeros(n, 1, dtype=torch.long)], dim=1)  # the last position is predicted
            logits = net.logits(feats, dummy)[:, -1] / temperature  # (N, V)
            logits = logits.masked_fill(~allowed_mask(slots, tokens, net.n_coord, net.vocab), float("-inf"))
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1)
            tokens = torch.cat([tokens, nxt], dim=1)
        samples = [Sample(i // group_size, row, self._render(slots, row)) for i, row in enumerate(tokens.tolist())]
        batch = {"tokens": tokens, "images": images, "prompt": prompt}
        return Rollout(samples, batch, torch.ones(tokens.shape, dtype=torch.float32), self._info(slots))

    def logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        return self._token_logprobs(self.model, rollout, temperature)

    def freeze_reference(self) -> None:
        self.reference = copy.deepcopy(self.model).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def ref_logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        if self.reference is None:
            self.freeze_reference()
        assert self.reference is not None
        return self._token_logprobs(self.reference, rollout, temperature)

    def target_tokens(self, examples: Sequence[Example]) -> torch.Tensor:
        """The free tokens of each example's ``target`` completion, (B, T)."""
        rows = []
        for ex in examples:
            if (m := _BOX.search(ex.target)) is not None:
                rows.append([int(v) for v in m.groups()])
            elif (m := _LETTER.search(ex.target)) is not None:
                rows.append([self.model.n_coord + LETTERS.index(m.group(1))])
            else:
                raise ValueError(f"target has no box or letter answer: {ex.target!r}")
        return torch.tensor(rows)

    def sft_loss(self, examples: Sequence[Example]) -> torch.Tensor:
        tokens = self.target_tokens(examples)
        batch = {"tokens": tokens, "images": self._images(examples), "prompt": torch.arange(len(examples))}
        rollout = Rollout([], batch, torch.ones(tokens.shape), self._info(self._slots(examples)))
        return -self._token_logprobs(self.model, rollout, 1.0).mean()
