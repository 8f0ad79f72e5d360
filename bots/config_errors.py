"""Config errors people can act on: an unset ``${VAR}`` is named, an unknown key gets a "did you mean".

Works on pydantic's error records and the raw YAML document, so the models stay as they are.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from bots.envsubst import unset_references


def explain(
    err: ErrorDetails, loc: tuple[Any, ...], raw: Any, root: type[BaseModel], env: Mapping[str, str] | None = None
) -> str:
    """The message for one validation error at ``loc`` (union tags already dropped)."""
    message = err["msg"]
    path = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden" and loc:
        known = keys_at(root, loc[:-1], raw)
        close = difflib.get_close_matches(str(loc[-1]), sorted(known), n=1, cutoff=0.6)
        if close:
            return f"unknown key {loc[-1]!r}; did you mean {close[0]!r}?"
        if known:
            return f"unknown key {loc[-1]!r}; the keys here are: {', '.join(sorted(known))}"
        return message
    unset = unset_references(raw, env).get(path)
    if unset:
        names = ", ".join(f"${{{name}}}" for name in unset)
        first = unset[0]
        return (
            f"{names} {'is' if len(unset) == 1 else 'are'} not set, so the value is empty ({message}); "
            f"set {first} in the environment or give a default: ${{{first}:-VALUE}}"
        )
    return message


def keys_at(root: type[BaseModel], path: tuple[Any, ...], raw: Any) -> set[str]:
    """The keys the config model accepts at ``path`` (field names and aliases); empty when unknown."""
    annotation: Any = root
    node = raw
    for part in path:
        annotation = _model(annotation, node)
        if isinstance(part, int):
            annotation = _item(annotation)
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return set()
        field = next(
            (f for name, f in annotation.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return set()
        annotation = field.annotation
        node = node.get(part) if isinstance(node, dict) else None
    model = _model(annotation, node)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return set()
    return {name for name in model.model_fields} | {f.alias for f in model.model_fields.values() if f.alias}


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _item(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (list, tuple, set, frozenset) and args:
        return args[0]
    return annotation


def _model(annotation: Any, node: Any) -> Any:
    """The model a (possibly optional or tagged-union) annotation means for the raw ``node``."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in map(_unwrap, typing.get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for model in models:
            field = model.model_fields.get("kind")
            if field is not None and kind in (field.default, *typing.get_args(_unwrap(field.annotation))):
                return model
        if len(models) == 1:
            return models[0]
        # lists inside unions (list[X] | None)
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        return others[0] if len(others) == 1 else annotation
    return annotation
