"""The ``--json`` rendering of a ``Diagnosis``: the documented ``leaksleuth.diagnosis/1`` contract.

Non-finite floats (a p-value that could not be computed) become ``null``: JSON has no NaN,
and consumers in other languages choke on Python's ``NaN`` extension.
"""

from __future__ import annotations

import json
import math
from typing import Any

from leaksleuth.analyze.diagnosis import Diagnosis


def finite(v: Any, *, str_keys: bool = False) -> Any:
    """``v`` with NaN/inf floats as None (JSON has no NaN), tuples as lists, and with
    ``str_keys`` every dict key as ``str(key)``."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {(str(k) if str_keys else k): finite(x, str_keys=str_keys) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [finite(x, str_keys=str_keys) for x in v]
    return v


def to_json_dict(d: Diagnosis) -> dict[str, Any]:
    cleaned: dict[str, Any] = finite(d.to_json_dict())
    return cleaned


def to_json(d: Diagnosis, indent: int | None = 2) -> str:
    """The diagnosis as JSON text (keys in contract order, no NaN)."""
    return json.dumps(to_json_dict(d), indent=indent, allow_nan=False) + "\n"
