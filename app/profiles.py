"""Profiles: named, validated composite-reward configs, and where they are found.

A profile lists components ``{reward, weight, params}`` plus the answer kind, the coordinate
mode and the scheduler a run should use. ``total = Σ wᵢ·rᵢ`` over the components that did not
abstain, weights renormalised; ``None`` when a required (outcome) component abstains or all do.

Lookup order for a tenant: its own profiles (saved with PUT, kept in the run store so they
survive restarts and are shared by replicas) > the profiles file > the built-in presets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.errors import ApiError, not_found, validation_error
from app.limits import check_outbound
from app.presets import PRESETS
from schedulers.base import RunStore
from scorers import REGISTRY, Params, get_reward

log = logging.getLogger(__name__)

PROFILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DOC_KIND = "profile"

AnswerKind = Literal["closed", "mcq", "open", "ordinal", "numeric", "auto"]
Coords = Literal["abs", "norm1", "norm1000"]
SchedulerName = Literal["medloc", "fixed", "step"]
# Outcome rewards judge the answer itself; the rest (format, length, recitation) only shape it.
OUTCOME_REWARDS = frozenset({"answer", "iou", "semantic"})


class Component(BaseModel):
    """One reward in a profile."""

    model_config = ConfigDict(extra="forbid")

    reward: str = Field(max_length=64, description="A registered reward name (GET /v1/rewards).")
    weight: float = Field(default=1.0, ge=0.0, le=1e6, allow_inf_nan=False, description="Weight wᵢ (≥ 0).")
    params: dict[str, Any] = Field(default_factory=dict, description="The reward's params (its params_schema).")
    name: str | None = Field(
        default=None, max_length=64, description="Name in the response's components (default: the reward name)."
    )
    required: bool | None = Field(
        default=None,
        description="An outcome component: when it abstains the item's total is null, never the other terms "
        "alone. Default: true for answer, iou and semantic, false for shaping rewards (format, length, ...).",
    )

    @property
    def key(self) -> str:
        return self.name or self.reward

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.reward in OUTCOME_REWARDS


class SchedulerSpec(BaseModel):
    """The schedule a run created for this profile gets (adapters create runs on first use)."""

    model_config = ConfigDict(extra="forbid")

    type: SchedulerName = "medloc"
    config: dict[str, Any] = Field(default_factory=dict)


class Profile(BaseModel):
    """A composite reward: components, answer kind, coordinate mode and scheduler."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "closed yes/no VQA",
                    "components": [
                        {"reward": "format", "weight": 0.2},
                        {"reward": "answer", "weight": 0.8},
                    ],
                    "answer_kind": "closed",
                }
            ]
        },
    )

    description: str = Field(default="", max_length=2000)
    components: list[Component] = Field(min_length=1, max_length=16)
    answer_kind: AnswerKind | None = Field(default=None, description="Item kind applied where an item sets none.")
    coords: Coords | None = Field(default=None, description="Coordinate mode given to rewards that take `coords`.")
    scheduler: SchedulerSpec | None = Field(default=None, description="Schedule for runs (grounding).")


@dataclass(frozen=True)
class ResolvedComponent:
    key: str
    reward: str
    weight: float
    params: Params
    required: bool = False


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile checked against the registry, with each component's params model built."""

    name: str
    profile: Profile
    components: tuple[ResolvedComponent, ...]


def resolve(
    name: str, profile: Profile, field: str = "profile", judges: frozenset[str] | None = None
) -> ResolvedProfile:
    """Check every component against the registry; 404 for an unknown reward, 422 for bad params.

    ``judges``: the judge URLs components may name (None: not checked, for the operator's own
    presets and profiles file).
    """
    comps: list[ResolvedComponent] = []
    seen: set[str] = set()
    for i, comp in enumerate(profile.components):
        where = f"{field}.components[{i}]"
        if comp.reward not in REGISTRY:
            raise not_found("reward", comp.reward, list(REGISTRY), f"{where}.reward")
        spec = get_reward(comp.reward)
        raw = dict(comp.params)
        if profile.coords is not None and "coords" in spec.params.model_fields and "coords" not in raw:
            raw["coords"] = profile.coords
        try:
            params = spec.params.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(exc, f"{where}.params") from None
        if judges is not None:
            check_outbound(params, judges, f"{where}.params")
        if comp.key in seen:
            raise ApiError(422, "invalid_field", f"component name {comp.key!r} appears twice", f"{where}.name")
        seen.add(comp.key)
        comps.append(ResolvedComponent(comp.key, comp.reward, comp.weight, params, comp.is_required))
    if sum(c.weight for c in comps) <= 0:
        raise ApiError(422, "invalid_field", "the weights sum to 0", f"{field}.components")
    if not any(c.required for c in comps):
        raise ApiError(
            422,
            "no_outcome_component",
            "a profile needs an outcome component (answer, iou or semantic) or one marked `required: true`: "
            "a total must not stand on shaping terms (format, length, ...) alone",
            f"{field}.components",
        )
    return ResolvedProfile(name, profile, tuple(comps))


def load_file(path: Path) -> dict[str, Profile]:
    """Profiles from YAML: ``{name: profile}`` or ``{"profiles": {name: profile}}``."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if isinstance(doc, dict) and isinstance(doc.get("profiles"), dict):
        doc = doc["profiles"]
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of profile names to profiles")
    return {str(name): Profile.model_validate(body) for name, body in doc.items()}


class ProfileBook:
    """Where a tenant's profiles are found: its own (store) > file > built-in presets."""

    def __init__(
        self, store: RunStore, file_profiles: dict[str, Profile] | None = None, judges: frozenset[str] = frozenset()
    ) -> None:
        self.store = store
        self.judges = judges
        self.shared: dict[str, tuple[str, Profile]] = {}
        self._shared_resolved: dict[str, ResolvedProfile] = {}
        self._tenant_resolved: dict[tuple[str, str], tuple[dict[str, Any], ResolvedProfile]] = {}
        presets = {name: Profile.model_validate(doc) for name, doc in PRESETS.items()}
        for source, table in (("builtin", presets), ("file", file_profiles or {})):
            for name, prof in table.items():
                try:
                    self._shared_resolved[name] = resolve(name, prof)
                except ApiError as exc:
                    # A preset may name a reward that is not installed; it is left out, not fatal.
                    log.warning("profile %s (%s) left out: %s", name, source, exc.message)
                    continue
                self.shared[name] = (source, prof)

    def get(self, tenant: str, name: str) -> tuple[str, Profile]:
        doc = self.store.get_doc(tenant, DOC_KIND, name)
        if doc is not None:
            return "tenant", Profile.model_validate(doc)
        if name in self.shared:
            return self.shared[name]
        raise not_found("profile", name, list(self.names(tenant)), "profile")

    def resolved(self, tenant: str, name: str) -> ResolvedProfile:
        """The profile checked against the registry; cached while its document is unchanged.

        Per-sample trainers send one request per completion, so validating every component's
        params on each call would cost more than scoring the completion.
        """
        doc = self.store.get_doc(tenant, DOC_KIND, name)
        if doc is None:
            if name not in self._shared_resolved:
                raise not_found("profile", name, list(self.names(tenant)), "profile")
            return self._shared_resolved[name]
        cached = self._tenant_resolved.get((tenant, name))
        if cached is not None and cached[0] == doc:
            return cached[1]
        out = resolve(name, Profile.model_validate(doc), judges=self.judges)
        if len(self._tenant_resolved) > 10_000:  # bounded: a cache, not a second store
            self._tenant_resolved.clear()
        self._tenant_resolved[(tenant, name)] = (doc, out)
        return out

    def names(self, tenant: str) -> dict[str, str]:
        out = {name: source for name, (source, _) in self.shared.items()}
        out.update(dict.fromkeys(self.store.list_docs(tenant, DOC_KIND), "tenant"))
        return out

    def all(self, tenant: str) -> dict[str, tuple[str, Profile]]:
        out = dict(self.shared)
        for name, doc in self.store.list_docs(tenant, DOC_KIND).items():
            out[name] = ("tenant", Profile.model_validate(doc))
        return out

    def put(self, tenant: str, name: str, profile: Profile) -> None:
        resolve(name, profile, field="body", judges=self.judges)
        self.store.put_doc(tenant, DOC_KIND, name, profile.model_dump(mode="json"))

    def delete(self, tenant: str, name: str) -> None:
        if self.store.delete_doc(tenant, DOC_KIND, name):
            return
        if name in self.shared:
            raise ApiError(409, "read_only_profile", f"profile {name!r} is {self.shared[name][0]} and read-only")
        raise not_found("profile", name, list(self.names(tenant)), "name")
