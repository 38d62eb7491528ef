"""OpenRLHF's remote reward protocol: ``{query, prompts, labels}`` → ``{rewards, scores, extra_logs}``.

OpenRLHF ≥ 0.9.1 posts one completion per request (lists of length 1) and sends empty lists to
every URL but the first (OpenRLHF's ``_fetch_rewards_via_http``). ``query`` is prompt + response
decoded with special tokens; for VLMs the processor expands image placeholders, so ``query``
does not start with ``prompts`` and the response is cut after the last assistant header.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Assistant-turn headers of the chat templates medical VLMs use (ChatML: Qwen2/2.5-VL, InternVL;
# Llama 3; Gemma; Phi-3; DeepSeek-R1; Mistral/Llama 2).
ASSISTANT_HEADERS = (
    "<|im_start|>assistant",
    "<|start_header_id|>assistant<|end_header_id|>",
    "<start_of_turn>model",
    "<|assistant|>",
    "<｜Assistant｜>",
    "[/INST]",
)
# End-of-turn / end-of-text tokens left at the end of the decoded query.
END_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
    "</s>",
    "<eos>",
)


def response_from_query(query: str, prompt: str | None = None) -> str:
    """The model's response inside an OpenRLHF ``query`` (prompt + response with special tokens).

    >>> q = "<|im_start|>user\\n<|image_pad|>Left or right?<|im_end|>\\n"
    >>> response_from_query(q + "<|im_start|>assistant\\nleft<|im_end|>")
    'left'
    """
    cut = -1
    for header in ASSISTANT_HEADERS:
        at = query.rfind(header)
        if at >= 0 and at + len(header) > cut:
            cut = at + len(header)
    if cut >= 0:
        text = query[cut:]
    elif prompt and query.startswith(prompt):
        text = query[len(prompt) :]
    else:
        text = query
    text = text.strip()
    # Peel end tokens off by moving one end index: slicing on each peel was quadratic in the
    # number of tokens (hundreds of thousands of "</s>" took seconds).
    end = len(text)
    peeled = True
    while peeled:
        peeled = False
        for tok in END_TOKENS:
            if text.endswith(tok, 0, end):
                end -= len(tok)
                while end and text[end - 1].isspace():
                    end -= 1
                peeled = True
    return text[:end]


class OpenRLHFRequest(BaseModel):
    """Exactly what OpenRLHF's ``_fetch_rewards_via_http`` posts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "query": [
                        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is there a pneumothorax?"
                        "<|im_end|>\n<|im_start|>assistant\n<think>no pleural line</think><answer>no</answer>"
                        "<|im_end|>"
                    ],
                    "prompts": [
                        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is there a pneumothorax?"
                        "<|im_end|>\n<|im_start|>assistant\n"
                    ],
                    "labels": ["no"],
                },
                {"query": [], "prompts": [], "labels": []},
            ]
        },
    )

    query: list[str] = Field(description="Prompt + response, decoded with special tokens.")
    prompts: list[str] = Field(default_factory=list, description="The chat-templated prompts (groups).")
    labels: list[Any] = Field(default_factory=list, description="A reference, or an object with Item fields.")


class OpenRLHFResponse(BaseModel):
    rewards: list[float] = Field(
        description="The totals, used for advantages (a null total gets MEDREWARD_ABSTAIN_VALUE and is flagged)."
    )
    scores: list[float] = Field(
        description="The outcome components alone, clipped to [0, 1]: dynamic filtering's input, so a group "
        "whose answers are all wrong is seen as one though format credit separates its totals."
    )
    extra_logs: dict[str, list[float]] = Field(
        description="Per component (abstentions as MEDREWARD_ABSTAIN_VALUE), `<component>_abstained` (1 = "
        "abstained), `abstained` (the total), `<iou component>_overlap` (raw IoU) and `tau` with a run; "
        "the same keys for every item."
    )
