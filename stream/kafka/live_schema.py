"""The bins live windows are profiled on, kept with the monitor's state in the checkpoint topic.

Live profiles are sketched on the baseline's bins (numeric edges, category vocabularies), and
every checkpoint and partial window is tied to them. A baseline swapped in a running worker may
bring other bins: the worker keeps profiling on the bins its state was written with and
evaluates against the new baseline by re-binning (``bins.exact`` false in the results, the
share error stated) -- exactly when the new baseline was built with ``--bins-from``. So that a
restart after such a swap (or a second worker started with the new file) can still restore the
state, the bins are pinned under the key ``<monitor>|live-schema`` the first time a worker of
the monitor starts; later starts use the pinned bins when the features and their parameters
(types, ``k``, ``range``, ``cap``) are the configured ones, else the new baseline's (a changed
feature configuration, or a monitor that ran without a baseline so far, takes the baseline's
bins).

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> a = ProfileSchema((NumericSpec("x", edges=(1.0, 2.0)),))
>>> same_features(a, ProfileSchema((NumericSpec("x", edges=(5.0,)),)))
True
>>> same_features(a, ProfileSchema((NumericSpec("x", k=400, edges=(1.0, 2.0)),)))
False
"""

from __future__ import annotations

import logging
from typing import Any

from driftline.sketches.codec import SketchFormatError
from driftline.sketches.schema import ProfileSchema
from driftline.stream.kafka.checkpoint import Checkpoint, CheckpointStore

log = logging.getLogger(__name__)

_BINS = ("edges", "vocabulary")


def live_schema_key(monitor: str) -> str:
    return f"{monitor}|live-schema"


def _without_bins(schema: ProfileSchema) -> list[dict[str, Any]]:
    return [{k: v for k, v in spec.to_dict().items() if k not in _BINS} for spec in schema]


def _has_bins(schema: ProfileSchema) -> bool:
    return any(spec.to_dict().get(k) is not None for spec in schema for k in _BINS)


def same_features(a: ProfileSchema, b: ProfileSchema) -> bool:
    """The same features with the same parameters, whatever their bins."""
    return _without_bins(a) == _without_bins(b)


async def pinned_schema(store: CheckpointStore, monitor: str, schema: ProfileSchema
                        ) -> ProfileSchema:
    """The schema live windows use: the pinned one when it fits ``schema`` (the current
    baseline's), else ``schema``, pinned from now on; see the module doc."""
    key = live_schema_key(monitor)
    found = (await store.load([key])).get(key)
    if found is not None:
        try:
            pinned = ProfileSchema.from_bytes(found.state)
        except SketchFormatError as exc:
            log.warning("ignoring the pinned live schema of %s: %s", monitor, exc)
        else:
            if pinned.fingerprint == schema.fingerprint:
                return pinned
            if same_features(pinned, schema) and (_has_bins(pinned) or not _has_bins(schema)):
                log.info("live windows keep the bins of the monitor's state (schema %s); the "
                         "baseline's bins (schema %s) differ, windows are re-binned onto them",
                         pinned.fingerprint[:12], schema.fingerprint[:12])
                return pinned
    await store.save({key: Checkpoint(0, schema.to_bytes())})
    return schema
