"""Typed, frozen parameter sections: the checks every ``params.yaml`` value goes through.

A section is a frozen dataclass deriving from :class:`Section`; its fields' annotations say
what a value may be (``int``, ``float``, ``str``, ``bool``, ``Literal[...]``, ``X | None``,
``tuple[T, ...]``, ``dict[str, T]`` or another section) and :func:`option` adds bounds and an
example. :meth:`Section.from_mapping` refuses unknown keys (listing the known ones, with the
nearest as a suggestion), missing required keys, wrong types and out-of-range values, each
with one line that says where the value is and what to write instead. Values are checked, not
converted: an ``int`` given for a ``float`` stays an ``int``, so a valid file runs exactly as
it did before the checks existed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, Union

from twinlab.config import ConfigError

__all__ = ["Section", "coerce", "option"]

_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    finite: bool = True,
    example: str | None = None,
    factory: Any = _MISSING,
    path: Literal["path", "name"] | None = None,
) -> Any:
    """A section field with bounds (on a number, or on every number of a tuple or dict).

    Parameters
    ----------
    default, factory
        Default value (or a zero-argument factory); neither: the key is required.
    ge, gt, le, lt
        Bounds (``>=``, ``>``, ``<=``, ``<``).
    finite
        Refuse infinite numbers (NaN is always refused).
    example
        What to write, shown in messages (``"n_patients: 1000"``).
    path
        ``"path"``: a file or folder of the project (text, or each text of a list), which
        :meth:`Section.project_paths` lists so that it is held inside the project folder;
        ``"name"``: one folder name inside a project folder (no ``/``, not ``..``).
    """
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "finite": finite, "example": example,
            "path": path}  # fmt: skip
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _fail(where: str, message: str, meta: Mapping[str, Any] | None = None) -> ConfigError:
    example = (meta or {}).get("example")
    return ConfigError(f"{where}: {message}" + (f" (write e.g. {example})" if example else ""))


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    if origin is dict:
        return f"a mapping of {_type_name(typing.get_args(hint)[1])}"
    if isinstance(hint, type) and issubclass(hint, Section):
        return "a mapping (" + ", ".join(hint.known_keys()) + ")"
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _bounds(where: str, value: float, meta: Mapping[str, Any]) -> None:
    """Refuse NaN, infinity (unless ``finite`` is false) and values outside the bounds."""
    if isinstance(value, float) and (
        math.isnan(value) or (meta.get("finite", True) and math.isinf(value))
    ):
        raise _fail(where, f"must be a finite number, got {value!r}", meta)
    for key, op, ok in (
        ("ge", ">=", lambda b: value >= b),
        ("gt", ">", lambda b: value > b),
        ("le", "<=", lambda b: value <= b),
        ("lt", "<", lambda b: value < b),
    ):
        bound = meta.get(key)
        if bound is not None and not ok(bound):
            raise _fail(where, f"must be {op} {bound:g}, got {value!r}", meta)


def coerce(where: str, value: Any, hint: Any, meta: Mapping[str, Any] | None = None) -> Any:
    """Check ``value`` against the annotation ``hint``; return it (lists become tuples,
    mappings of a section become the section)."""
    meta = meta or {}
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise _fail(where, f"must be null, got {value!r}", meta)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(where, value, option, meta)
            except ConfigError as err:
                errors.append((option, err))
        if len(errors) == 1:
            raise errors[0][1]
        shaped = [e for o, e in errors if _shape_fits(value, o)]
        if len(shaped) == 1:  # e.g. a mapping given where a section or a list may stand
            raise shaped[0]
        raise _fail(where, f"must be {_type_name(hint)}, got {value!r}", meta)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and type(value) is type(choices[choices.index(value)]):
            return value
        near = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint_text = f" (did you mean {near[0]!r}?)" if near else ""
        raise _fail(where, f"must be {_type_name(hint)}, got {value!r}{hint_text}", meta)
    if origin is tuple:
        (item,) = (a for a in typing.get_args(hint) if a is not Ellipsis)
        if isinstance(value, str) and item is str:
            value = [value]
        if not isinstance(value, list | tuple):
            raise _fail(where, f"must be {_type_name(hint)}, got {value!r}", meta)
        return tuple(coerce(f"{where}[{i}]", v, item, meta) for i, v in enumerate(value))
    if origin is dict:
        key_hint, item = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise _fail(where, f"must be {_type_name(hint)}, got {value!r}", meta)
        out = {}
        for k, v in value.items():
            if key_hint is str and isinstance(k, int) and not isinstance(k, bool):
                k = str(k)  # YAML reads an unquoted site id 101 as a number
            if key_hint is str and not isinstance(k, str):
                raise _fail(where, f"key {k!r} must be text: quote it ('{k}')", meta)
            out[k] = coerce(f"{where}.{k}", v, item, meta)
        return out
    if isinstance(hint, type) and issubclass(hint, Section):
        return hint.from_mapping(value, where=where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(where, f"must be true or false, got {value!r}", meta)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            _bounds(where, value, meta)
            return value
        raise _fail(where, f"must be an integer, got {value!r}", meta)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) > 2**1023:
                raise _fail(where, "is too large for a number", meta)
            _bounds(where, value, meta)
            return value
        raise _fail(where, f"must be a number, got {value!r}", meta)
    if hint is str:
        if isinstance(value, str) and value.strip():
            return value
        raise _fail(where, f"must be non-empty text, got {value!r}", meta)
    raise TypeError(f"{where}: unsupported annotation {hint!r}")  # a bug, not a user error


def _items(value: Any) -> list[tuple[str, Any]]:
    """A field's value as ``(location suffix, item)`` pairs: itself, or a list's or mapping's
    items."""
    if isinstance(value, tuple):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return [(f".{k}", v) for k, v in value.items()]
    return [("", value)]


def _shape_fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the outer shape of ``hint`` (mapping, list, text or number)."""
    origin = typing.get_origin(hint)
    if (isinstance(hint, type) and issubclass(hint, Section)) or origin is dict:
        return isinstance(value, Mapping)
    if origin is tuple:
        return isinstance(value, list | tuple)
    return not isinstance(value, Mapping | list | tuple)


class Section:
    """Base of the frozen parameter sections; subclasses are ``@dataclass(frozen=True)``.

    ``section`` names the ``params.yaml`` section (the start of every message's location).
    """

    section: ClassVar[str] = ""

    @classmethod
    def known_keys(cls) -> list[str]:
        """The keys this section takes, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | Self | None, *, where: str = "") -> Self:
        """Check ``data`` and build the section.

        Parameters
        ----------
        data
            The section as read from YAML (an instance is returned as it is).
        where
            Location for messages (default: the section's name).

        Raises
        ------
        ConfigError
            One line per problem found first: an unknown key (with the known ones), a missing
            key, a wrong type or a value out of range.
        """
        where = where or cls.section
        if isinstance(data, cls):
            return data
        known = cls.known_keys()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: must be a mapping of {', '.join(known)}, got {data!r}")
        unknown = [k for k in data if k not in known]
        if unknown:
            key = unknown[0]
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(known)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            place = f"{where}.{f.name}"
            if f.name not in data:
                if f.default is _MISSING and f.default_factory is _MISSING:
                    raise _fail(place, "is required", f.metadata)
                continue
            values[f.name] = coerce(place, data[f.name], hints[f.name], f.metadata)
        try:
            return cls(**values)
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None

    def project_paths(self, where: str = "") -> list[tuple[str, str, str | None]]:
        """Every value of a ``path`` or ``name`` field here and in nested sections.

        Returns
        -------
        list of (str, str, str or None)
            ``(location, value, kind)``: where it is (``fit.out``), the text given, and
            ``"path"`` or ``"name"``.
        """
        where = where or self.section
        found: list[tuple[str, str, str | None]] = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value, place = getattr(self, f.name), f"{where}.{f.name}"
            kind = f.metadata.get("path")
            for key, item in _items(value):
                at = place + key
                if isinstance(item, Section):
                    found.extend(item.project_paths(at))
                elif kind and isinstance(item, str):
                    found.append((at, item, kind))
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists, sections as mappings), unset optional keys left out."""

        def plain(value: Any) -> Any:
            if isinstance(value, Section):
                return value.to_dict()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {
            f.name: plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if not (getattr(self, f.name) is None and f.default is None)
        }
