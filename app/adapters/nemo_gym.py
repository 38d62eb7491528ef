"""NeMo Gym resources server ``/verify``: the rollout echoed back with ``reward`` and ``reward_components``.

The agent sends the dataset row with the model's OpenAI Responses object under ``response``
(reference/trainer-protocols.md §4.4); the text is in ``response.output[*].content[*].text``
where ``type == "output_text"``. Task fields (``expected_answer``, Item fields) ride along.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def output_text(response: dict[str, Any]) -> str:
    """The assistant text of a Responses API object (output_text parts of message outputs).

    >>> output_text({"output": [{"type": "message", "content": [{"type": "output_text", "text": "yes"}]}]})
    'yes'
    """
    parts: list[str] = []
    output = response.get("output")
    if not isinstance(output, list):
        return ""
    for out in output:
        if not isinstance(out, dict) or out.get("type", "message") != "message":
            continue
        content = out.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
    return "\n".join(parts)


class NemoVerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "responses_create_params": {
                        "input": [{"role": "user", "type": "message", "content": "Is there a pneumothorax?"}]
                    },
                    "response": {
                        "id": "resp_1",
                        "object": "response",
                        "output": [
                            {
                                "type": "message",
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": "<think>…</think><answer>no</answer>"}],
                            }
                        ],
                    },
                    "expected_answer": "no",
                }
            ]
        },
    )

    responses_create_params: dict[str, Any] = Field(description="OpenAI Responses create params (echoed).")
    response: dict[str, Any] = Field(description="The OpenAI Responses object the model returned.")


class NemoVerifyResponse(NemoVerifyRequest):
    reward: float
    reward_components: dict[str, float] = Field(description="Components that did not abstain.")
