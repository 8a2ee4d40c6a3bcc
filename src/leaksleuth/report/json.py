"""The ``--json`` rendering of a ``Diagnosis``: the documented ``leaksleuth.diagnosis/1`` contract.

Non-finite floats (a p-value that could not be computed) become ``null``: JSON has no NaN,
and consumers in other languages choke on Python's ``NaN`` extension.
"""

from __future__ import annotations

import json
import math
from typing import Any

from leaksleuth.analyze.diagnosis import Diagnosis


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def to_json_dict(d: Diagnosis) -> dict[str, Any]:
    cleaned: dict[str, Any] = _clean(d.to_json_dict())
    return cleaned


def to_json(d: Diagnosis, indent: int | None = 2) -> str:
    """The diagnosis as JSON text (keys in contract order, no NaN)."""
    return json.dumps(to_json_dict(d), indent=indent, allow_nan=False) + "\n"
