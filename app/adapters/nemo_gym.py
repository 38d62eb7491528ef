"""NeMo Gym's resources-server protocol: verify a rollout, seed a session, aggregate metrics.

The agent sends the dataset row with the model's OpenAI Responses object under ``response``;
the answer is in the ``output_text`` parts of ``message`` outputs. With vLLM's reasoning parser
on, the thinking arrives apart, as a ``reasoning`` output item (``reasoning_text`` content, or a
``summary_text`` summary): it is put back as the ``<think>`` span so that ``format`` sees it.
Task fields (``expected_answer``, Item fields) ride along in the row.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# NeMo Gym's row keys for the task and the rollout (nemo_gym/global_config.py).
TASK_INDEX = "_ng_task_index"
ROLLOUT_INDEX = "_ng_rollout_index"
# NeMo Gym's failure-kind vocabulary takes "<server>:<kind>" for kinds of a server's own.
FAILURE_KIND = "medreward:abstained"


def _texts(parts: Any, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"] for p in parts if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
    ]


def output_text(response: dict[str, Any]) -> str:
    """The assistant text of a Responses API object (output_text parts of message outputs).

    >>> output_text({"output": [{"type": "message", "content": [{"type": "output_text", "text": "yes"}]}]})
    'yes'
    """
    output = response.get("output")
    if not isinstance(output, list):
        return ""
    parts: list[str] = []
    for out in output:
        if isinstance(out, dict) and out.get("type", "message") == "message":
            parts.extend(_texts(out.get("content"), "output_text"))
    return "\n".join(parts)


def reasoning_text(response: dict[str, Any]) -> str:
    """The text of ``reasoning`` output items: their ``reasoning_text`` content, else their summary.

    >>> reasoning_text({"output": [{"type": "reasoning", "summary": [{"type": "summary_text", "text": "air"}]}]})
    'air'
    """
    output = response.get("output")
    if not isinstance(output, list):
        return ""
    parts: list[str] = []
    for out in output:
        if isinstance(out, dict) and out.get("type") == "reasoning":
            found = _texts(out.get("content"), "reasoning_text") or _texts(out.get("summary"), "summary_text")
            parts.extend(found)
    return "\n".join(parts)


def completion_text(response: dict[str, Any]) -> str:
    """The completion to score: the reasoning as the ``<think>`` span, then the answer text.

    >>> completion_text({"output": [
    ...     {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "no pleural line"}]},
    ...     {"type": "message", "content": [{"type": "output_text", "text": "<answer>no</answer>"}]},
    ... ]})
    '<think>no pleural line</think><answer>no</answer>'
    """
    answer = output_text(response)
    thinking = reasoning_text(response)
    if thinking and "<think>" not in answer:
        return "<think>" + thinking + "</think>" + answer.lstrip()
    return answer


class NemoVerifyRequest(BaseModel):
    """NeMo Gym's ``BaseVerifyRequest``: the row, with the Responses create params and the response."""

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
                                "type": "reasoning",
                                "id": "rs_1",
                                "summary": [],
                                "content": [{"type": "reasoning_text", "text": "no visible pleural line"}],
                            },
                            {
                                "type": "message",
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": "<answer>no</answer>"}],
                            },
                        ],
                    },
                    "expected_answer": "no",
                    TASK_INDEX: 0,
                    ROLLOUT_INDEX: 3,
                }
            ]
        },
    )

    responses_create_params: dict[str, Any] = Field(description="OpenAI Responses create params (echoed).")
    response: dict[str, Any] = Field(description="The OpenAI Responses object the model returned.")


class NemoVerifyResponse(NemoVerifyRequest):
    """The request echoed, plus the reward, every component (also top-level) and the abstention flags."""

    reward: float = Field(description="The total; MEDREWARD_ABSTAIN_VALUE when it is null (then mask_sample).")
    reward_components: dict[str, float] = Field(
        description="Every component (abstentions as MEDREWARD_ABSTAIN_VALUE, flagged in reward_<name>_abstained)."
    )
    abstained: bool = Field(description="The total is null: a required component abstained.")
    mask_sample: bool = Field(description="NeMo Gym: leave this sample out of scores (the reward is no measurement).")
    failure_kind: str | None = None
    failure_reason: str | None = None


class SeedSessionResponse(BaseModel):
    """Empty for an agent's seed; an environment server's ``resources_session_id`` echoed."""

    model_config = ConfigDict(extra="allow")


class AggregateMetricsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    verify_responses: list[dict[str, Any]] = Field(default_factory=list, description="/verify responses.")


class AggregateMetrics(BaseModel):
    group_level_metrics: list[dict[str, Any]] = Field(default_factory=list, description="Per task (group).")
    agent_metrics: dict[str, Any] = Field(default_factory=dict, description="Over every response.")
    key_metrics: dict[str, Any] = Field(default_factory=dict, description="The headline `mean/*` metrics.")


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float (booleans as 0/1), or None: not a number, not finite, or an
    integer past float range (JSON allows any number of digits; ``float()`` raises on them)."""
    if not isinstance(value, bool | int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def numeric_fields(row: dict[str, Any]) -> dict[str, float]:
    """Top-level finite numbers of a verify response (booleans as 0/1), the task and rollout keys left out."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if key in (TASK_INDEX, ROLLOUT_INDEX):
            continue
        number = finite_number(value)
        if number is not None:
            out[key] = number
    return out


def describe(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """``mean/max/min/median/std`` of each field, keyed ``<stat>/<field>`` as NeMo Gym's profiler does."""
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    out: dict[str, float] = {}
    for key, values in columns.items():
        out[f"mean/{key}"] = statistics.fmean(values)
        out[f"max/{key}"] = max(values)
        out[f"min/{key}"] = min(values)
        out[f"median/{key}"] = statistics.median(values)
        out[f"std/{key}"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def aggregate_metrics(responses: list[dict[str, Any]]) -> AggregateMetrics:
    """Per-task and overall statistics of verify responses, plus the share of dead groups.

    A dead group is a task whose rollouts (two or more) all got the same reward: GRPO's
    group-relative advantage is zero for every one of them, so they teach nothing.
    """
    if not responses:
        return AggregateMetrics()
    tasks: dict[Any, list[dict[str, Any]]] = {}
    for row in responses:
        tasks.setdefault(row.get(TASK_INDEX, 0), []).append(row)
    groups: list[dict[str, Any]] = []
    dead = counted = 0
    for task, rows in sorted(tasks.items(), key=lambda kv: str(kv[0])):
        groups.append({**describe(numeric_fields(r) for r in rows), TASK_INDEX: task})
        rewards = [x for x in (finite_number(r.get("reward")) for r in rows) if x is not None]
        if len(rewards) > 1:
            counted += 1
            dead += max(rewards) == min(rewards)
    agent = describe(numeric_fields(r) for r in responses)
    if counted:
        agent["medreward/dead_group_rate"] = dead / counted
    key = {k: v for k, v in agent.items() if k.startswith("mean/")}
    return AggregateMetrics(group_level_metrics=groups, agent_metrics=agent, key_metrics=key)
