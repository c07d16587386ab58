"""When each topic, feature and cohort last had data: the ``last_seen`` times a source
partition keeps (event time), which staleness alerts read.

>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> d = Decoder([FieldSpec("x", "numeric")], ["region"], "ts").decode(
...     [b'{"ts": 5, "x": 1.0, "region": "eu"}', b'{"ts": 7, "region": "us"}'])
>>> seen: dict[str, float] = {}
>>> note_seen(seen, {"region": 0}, d, None, 10)
>>> seen
{'topic': 7.0, 'feature:x': 5.0, 'cohort:region=eu': 5.0, 'cohort:region=us': 7.0}
"""

from __future__ import annotations

import math

import numpy as np

from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.cohorts import AdmittedView, Cohorts


def note_seen(seen: dict[str, float], seen_cohorts: dict[str, int], d: DecodedBatch,
              cohorts: Cohorts | AdmittedView | None, cap: int) -> None:
    """Raise ``seen`` (``topic``, ``feature:<name>``, ``cohort:<segment>=<value>``) to the
    latest event time of the batch with a usable value; new cohorts only while
    ``seen_cohorts[segment] < cap`` or admitted (bounded under adversarial cardinality)."""
    t = d.event_time
    tmax = float(t.max())
    seen["topic"] = max(seen.get("topic", -math.inf), tmax)
    for name, col in d.numeric.items():
        _seen_max(seen, f"feature:{name}", t, col.null, col.invalid)
    for name, c in d.categorical.items():
        _seen_max(seen, f"feature:{name}", t, c.null, c.invalid)
    for seg, sc in d.segments.items():
        if not sc.labels:
            continue
        latest = np.full(len(sc.labels) + 1, -math.inf)
        np.maximum.at(latest, np.where(sc.codes < 0, len(sc.labels), sc.codes), t)
        reg = cohorts[seg] if cohorts is not None else None
        for label, tmax in zip(sc.labels, latest[:-1].tolist(), strict=False):
            if tmax == -math.inf:  # a value of late rows only
                continue
            key = f"cohort:{seg}={label}"
            if key in seen:
                seen[key] = max(seen[key], tmax)
            elif (reg is not None and label in reg.admitted) or seen_cohorts[seg] < cap:
                seen[key] = tmax
                seen_cohorts[seg] += 1


def _seen_max(seen: dict[str, float], key: str, t: np.ndarray, null: np.ndarray | None,
              inv: np.ndarray | None) -> None:
    if null is not None and inv is not None:
        ok = ~(null | inv)
        if not ok.any():
            return
        tmax = float(t[ok].max()) if not ok.all() else float(t.max())
    else:
        tmax = float(t.max())
    if tmax > seen.get(key, -math.inf):
        seen[key] = tmax
