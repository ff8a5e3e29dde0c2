"""The check both editors make after an edit: the re-parsed file holds exactly the expected data."""

from __future__ import annotations

import math

from tuner.i18n import _


def same(a: object, b: object, *, numbers_by_value: bool) -> bool:
    """Equal as settings values. True is never 1. ``numbers_by_value``: 300 equals 300.0 (Python
    configs keep the file's number type on write); otherwise the types must match too (YAML)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if numbers_by_value and isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            same(x, y, numbers_by_value=numbers_by_value) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], numbers_by_value=numbers_by_value) for k in a)
    return type(a) is type(b) and a == b


def first_difference(
    expected: object, found: object, *, numbers_by_value: bool, where: str = ""
) -> str | None:
    """Where ``found`` departs from ``expected`` (``A.b[2] would be 3 instead of 2``), or None."""
    if same(expected, found, numbers_by_value=numbers_by_value):
        return None
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in [*expected, *(k for k in found if k not in expected)]:
            at = f"{where}.{key}" if where else str(key)
            if key not in found:
                return _("{path} would disappear").format(path=at)
            if key not in expected:
                return _("{path} would appear").format(path=at)
            problem = first_difference(expected[key], found[key], numbers_by_value=numbers_by_value, where=at)
            if problem:
                return problem
    if isinstance(expected, list | tuple) and isinstance(found, list | tuple) and len(expected) == len(found):
        for n, (x, y) in enumerate(zip(expected, found, strict=True)):
            problem = first_difference(x, y, numbers_by_value=numbers_by_value, where=f"{where}[{n}]")
            if problem:
                return problem
    return _("{path} would be {found!r} instead of {expected!r}").format(
        path=where or _("the file"), found=found, expected=expected
    )
