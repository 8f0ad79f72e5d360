"""The registry behind every ``kind:`` in config.yaml (dialogue engines, TTS engines, adapters, ...).

A *category* (``engine``, ``tts_engine``, ``adapter``; others can be added with no change here) maps
each *kind* to its pydantic config model and a factory. Built-ins and plugins register the same way
(``bots.plugin``); a config section is validated by the model its ``kind`` names, and an unknown kind
gets an error listing the known ones, with a "did you mean".

A config model validated without a registry in the pydantic context (a unit test building
``VoiceConfig`` directly) falls back to the built-in models named in :func:`by_kind`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, PlainValidator, SerializeAsAny, ValidationError, ValidationInfo, create_model
from pydantic_core import PydanticCustomError

CONTEXT_KEY = "kinds"
"""Key of the :class:`KindRegistry` in the pydantic validation context."""

Factory = Callable[..., Any]


class UnknownKind(ValueError):
    """A ``kind`` nobody registered; the message lists the known kinds."""


class KindClash(ValueError):
    """Two owners register the same kind in one category."""


def suggest(word: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_message(what: str, word: str, known: list[str]) -> str:
    """``unknown engine kind 'retreival' (did you mean 'retrieval'?); known: echo, faq, retrieval``."""
    return f"unknown {what} {word!r}{suggest(word, known)}; known: {', '.join(sorted(known)) or '(none)'}"


@dataclass(frozen=True, slots=True)
class Kind:
    """One registered kind: its config model (with a ``kind`` field) and the factory that builds it."""

    category: str
    kind: str
    model: type[BaseModel]
    factory: Factory
    owner: str


def with_kind_field(kind: str, model: type[BaseModel]) -> type[BaseModel]:
    """``model`` itself when it declares ``kind``; otherwise a subclass adding ``kind: Literal[kind]``."""
    if "kind" in model.model_fields:
        return model
    literal: Any = Literal[kind]
    return create_model(model.__name__, __base__=model, __module__=model.__module__, kind=(literal, kind))


LABELS = {"engine": "engine kind", "tts_engine": "TTS engine kind", "adapter": "adapter"}


class KindRegistry:
    """Kinds by category, in registration order."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Kind]] = {}

    def register(self, category: str, kind: str, model: type[BaseModel], factory: Factory, owner: str) -> Kind:
        """Add ``kind`` to ``category``.

        Raises:
            KindClash: another owner registered this kind already.
        """
        kinds = self._kinds.setdefault(category, {})
        old = kinds.get(kind)
        if old is not None and (old.owner != owner or old.factory is not factory):
            raise KindClash(f"{LABELS.get(category, category)} {kind!r} is registered twice: by {old.owner} and by {owner}")
        entry = Kind(category, kind, with_kind_field(kind, model), factory, owner)
        kinds[kind] = entry
        return entry

    def known(self, category: str) -> list[str]:
        """The kinds of ``category``."""
        return list(self._kinds.get(category, {}))

    def get(self, category: str, kind: str) -> Kind:
        """The registration of ``kind``.

        Raises:
            UnknownKind: with the known kinds and a "did you mean".
        """
        entry = self._kinds.get(category, {}).get(kind)
        if entry is None:
            raise UnknownKind(unknown_message(LABELS.get(category, f"{category} kind"), kind, self.known(category)))
        return entry

    def for_config(self, category: str, config: BaseModel) -> Kind:
        """The registration a validated config section belongs to (by its ``kind``)."""
        return self.get(category, str(getattr(config, "kind", "")))


def _validate(category: str, fallback: tuple[type[BaseModel], ...], value: Any, info: ValidationInfo) -> BaseModel:
    registry = (info.context or {}).get(CONTEXT_KEY)
    if isinstance(value, BaseModel):
        return value  # built in code, validated when constructed
    if not isinstance(value, dict):
        raise PydanticCustomError("kind_config", "expected a mapping with a 'kind' key")
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        raise PydanticCustomError("kind_config", "missing 'kind'")
    if isinstance(registry, KindRegistry):
        try:
            model = registry.get(category, kind).model
        except UnknownKind as exc:
            raise PydanticCustomError("unknown_kind", "{reason}", {"reason": str(exc)}) from None
    else:
        models = {_literal(m): m for m in fallback}
        if kind not in models:
            reason = unknown_message(LABELS.get(category, f"{category} kind"), kind, list(models))
            raise PydanticCustomError("unknown_kind", "{reason}", {"reason": reason})
        model = models[kind]
    try:
        return model.model_validate(value, context=info.context)
    except ValidationError as exc:
        # carried out whole, so the config loader can name each nested key path
        errors = [(tuple(e["loc"]), _nested_message(e["type"], tuple(e["loc"]), e["msg"], model)) for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors)
        raise PydanticCustomError("kind_config", "{summary}", {"summary": summary, "errors": errors}) from None


def _nested_message(kind: str, loc: tuple[Any, ...], message: str, model: type[BaseModel]) -> str:
    """An unknown key directly in the section gets a "did you mean" among the model's keys."""
    if kind != "extra_forbidden" or len(loc) != 1:
        return message
    known = sorted({*model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias)})
    close = difflib.get_close_matches(str(loc[0]), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key {loc[0]!r}; did you mean {close[0]!r}?"
    return f"unknown key {loc[0]!r}; the keys here are: {', '.join(known)}"


def _literal(model: type[BaseModel]) -> str:
    args = getattr(model.model_fields["kind"].annotation, "__args__", ())
    return str(args[0]) if args else ""


def by_kind(category: str, *fallback: type[BaseModel]) -> Any:
    """The annotation of a config field whose value is chosen by its ``kind`` from the registry.

    Args:
        category: the registry category (``engine``, ``tts_engine``, ...).
        fallback: the built-in models, used when no registry is in the validation context.
    """

    def validate(value: Any, info: ValidationInfo) -> BaseModel:
        return _validate(category, fallback, value, info)

    return Annotated[SerializeAsAny[BaseModel], PlainValidator(validate)]
