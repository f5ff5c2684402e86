"""Divergence spec strings: ``"alpha:0.3"``, ``"alpha:alpha=0.3"``, ``"name:key=value,other=value"``.

``fdpo.divergences.get_divergence`` reads the text after ``name:`` with ``parse_spec``, and checks the parameters
against the class's constructor with ``constructor_parameters``. The class only needs ``spec_param`` (the name an
unnamed value sets, or None) and its ``__init__``.
"""

from __future__ import annotations

import inspect

from fdpo.errors import InputError


def _parse_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def constructor_parameters(cls: type) -> list[str] | None:
    """Names of the keyword arguments ``cls`` accepts, or ``None`` if it takes ``**kwargs`` (anything goes)."""
    if cls.__init__ is object.__init__:
        return []
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return [
        parameter.name
        for parameter in parameters
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def parse_spec(name: str, cls: type, arguments: str, spec: str) -> dict[str, float | str]:
    """The parameters of a spec's ``arguments`` (the text after ``name:``), refusing anything ambiguous."""
    example = f"'{name}:0.3'" if cls.spec_param else f"'{name}:<key>=<value>'"
    if not arguments.strip():
        raise InputError(
            f"Divergence spec {spec!r} has a ':' but no parameter after it. Give one, as in {example}, or write "
            f"'{name}' alone for the default."
        )
    parsed: dict[str, float | str] = {}
    for item in (part.strip() for part in arguments.split(",")):
        if not item:
            raise InputError(
                f"Divergence spec {spec!r} has an empty parameter (a stray ','); write it as {example}."
            )
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            if cls.spec_param is None:
                hint = (
                    f"write its parameters as '{name}:<key>=<value>'"
                    if constructor_parameters(cls) != []
                    else f"use '{name}' alone"
                )
                raise InputError(
                    f"Divergence '{name}' takes no parameter without a name, got spec {spec!r}; {hint}."
                )
            if parsed:
                raise InputError(
                    f"Divergence spec {spec!r} gives more than one value; '{name}' takes one unnamed value "
                    f"({cls.spec_param}), as in {example}. For several divergences, list several specs."
                )
            key, value = cls.spec_param, item
        if not key or not value:
            raise InputError(
                f"Divergence spec {spec!r} has an incomplete parameter {item!r}; write it as key=value."
            )
        if key in parsed:
            raise InputError(
                f"Divergence spec {spec!r} sets {key} twice; give each parameter once, as in {example}."
            )
        parsed[key] = _parse_value(value)
    return parsed
