"""Serialized sketches, profiles, schemas and baselines: compact, versioned, and a damaged blob
raises SketchFormatError with a clear message (never a crash inside the C++ layer)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from datasketches import kll_doubles_sketch

from driftline.sketches import (
    Baseline,
    CategoricalSketch,
    CategoricalSpec,
    CohortProfile,
    Column,
    NumericSketch,
    NumericSpec,
    ProfileSchema,
    SketchFormatError,
)
from driftline.sketches.codec import HEADER_SIZE


def _profile(rows: int = 20_000) -> CohortProfile:
    rng = np.random.default_rng(3)
    schema = ProfileSchema((NumericSpec("amount", edges=(1.0, 10.0)),
                            CategoricalSpec("merchant", cap=50)))
    p = CohortProfile(schema)
    p.update({"amount": Column(rng.lognormal(1, 1, rows)),
              "merchant": Column(rng.choice([f"m{i}" for i in range(80)], rows).astype(object))},
             rows)
    return p


def _reseal(blob: bytes, payload: bytes) -> bytes:
    """Rewrite the header's length and CRC so that only the payload is 'corrupt'."""
    magic, version, kind, flags, _, _ = struct.unpack_from("<4sHBBII", blob)
    return struct.pack("<4sHBBII", magic, version, kind, flags, len(payload),
                       zlib.crc32(payload)) + payload


def test_every_truncation_and_byte_flip_is_a_clear_error() -> None:
    blob = _profile().to_bytes()
    assert not _profile().features["merchant"].is_exact  # past the cap: FI + HLL inside
    rng = np.random.default_rng(0)
    for cut in list(range(0, 64)) + rng.integers(64, len(blob), 200).tolist():
        with pytest.raises(SketchFormatError, match="truncated|corrupt"):
            CohortProfile.from_bytes(blob[:cut])
    for pos in rng.integers(HEADER_SIZE, len(blob), 200).tolist():
        bad = bytearray(blob)
        bad[pos] ^= 0xFF
        with pytest.raises(SketchFormatError, match="checksum"):
            CohortProfile.from_bytes(bytes(bad))


def test_corrupt_payload_with_a_valid_checksum_never_reaches_cpp_unchecked() -> None:
    sketch = NumericSketch(NumericSpec("x"))
    sketch.update(np.random.default_rng(1).normal(size=100_000))
    blob = sketch.to_bytes()
    payload = blob[HEADER_SIZE:]
    rng = np.random.default_rng(2)
    rejected = 0
    for _ in range(1500):
        bad = bytearray(payload)
        for pos in rng.integers(0, len(bad), rng.integers(1, 4)).tolist():
            bad[pos] = int(rng.integers(0, 256))
        try:
            back = NumericSketch.from_bytes(_reseal(blob, bytes(bad)))
        except SketchFormatError:
            rejected += 1
            continue
        back.quantiles([0.1, 0.5, 0.9])  # whatever loads must be usable
        back.merge(sketch)
    assert rejected >= 100  # the rest changed only item values or counts, consistently


def test_unknown_version_wrong_kind_and_garbage() -> None:
    blob = _profile(100).to_bytes()
    future = blob[:4] + struct.pack("<H", 99) + blob[6:]
    with pytest.raises(SketchFormatError, match="unsupported driftline format version 99"):
        CohortProfile.from_bytes(future)
    with pytest.raises(SketchFormatError, match="expected a baseline blob, got a profile"):
        Baseline.from_bytes(blob)
    with pytest.raises(SketchFormatError, match="bad magic"):
        CohortProfile.from_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(SketchFormatError, match="expected bytes"):
        CohortProfile.from_bytes("not bytes")  # type: ignore[arg-type]
    with pytest.raises(SketchFormatError, match="trailing"):
        CohortProfile.from_bytes(blob + b"\x00")


def test_profile_without_schema_needs_the_matching_schema() -> None:
    p = _profile(1000)
    lean = p.to_bytes(include_schema=False)
    assert len(lean) < len(p.to_bytes())
    assert CohortProfile.from_bytes(lean, p.schema).events == 1000
    with pytest.raises(SketchFormatError, match="pass schema="):
        CohortProfile.from_bytes(lean)
    other = ProfileSchema((NumericSpec("amount"), CategoricalSpec("merchant", cap=50)))
    with pytest.raises(SketchFormatError, match="does not match"):
        CohortProfile.from_bytes(lean, other)


def test_sizes_are_compact() -> None:
    p = _profile(1_000_000)
    sizes = {n: len(s.to_bytes()) for n, s in p.features.items()}
    assert sizes["amount"] <= 6_000  # KLL k=200 doubles ~5 KB + counters + bins
    assert sizes["merchant"] <= 16_000  # past the cap: frequent items + HLL
    small = CategoricalSketch(CategoricalSpec("c"))
    small.update(np.array(["a", "b"] * 1000, dtype=object))
    assert len(small.to_bytes()) < 200


def test_baseline_round_trip_keeps_everything() -> None:
    rng = np.random.default_rng(4)
    rows = 6000
    region = np.array(["eu"] * 3000 + ["us"] * 2500 + ["apac"] * 500, dtype=object)
    devices = np.array(["ios", "android", True], dtype=object)
    b = Baseline.build([NumericSpec("amount", range=(0, 1e4)), CategoricalSpec("device")],
                       {"amount": Column(rng.lognormal(3, 1, rows)),
                        "device": Column(rng.choice(devices, rows))},
                       segments={"region": region}, bins=8, min_cohort_rows=1000,
                       meta={"source": "train.parquet"})
    back = Baseline.from_bytes(b.to_bytes())
    assert back.cohorts == (("region", "eu"), ("region", "us")) == b.cohorts
    assert back.schema == b.schema and back.profile_schema == b.profile_schema
    assert back.schema["amount"].k == 200 and back.profile_schema["amount"].k == 800
    assert back.schema["device"].vocabulary == frozenset({"ios", "android", "true"})
    assert len(back.schema["amount"].edges or ()) == 7
    assert back.created_at == b.created_at and back.meta["source"] == "train.parquet"
    assert back.rows == rows and back.profile_for("region", "apac").events == rows
    assert back.profile_for("region", "us").events == 2500
    assert back.profile_for("region", "eu").to_bytes() == b.profile_for("region", "eu").to_bytes()


@pytest.mark.parametrize("n", [0, 1, 2, 199, 200, 201, 5_000, 250_000])
def test_kll_items_read_from_the_bytes_are_the_sketch_items_with_their_weights(n: int) -> None:

    from driftline.sketches.kll_guard import kll_items

    kll = kll_doubles_sketch(200)
    kll.update(np.random.default_rng(n).standard_t(3, size=n))
    items, weights = kll_items(kll.serialize())
    want = sorted((float(x), int(w)) for x, w in kll)
    assert sorted(zip(items.tolist(), weights.tolist(), strict=True)) == want
    assert int(weights.sum()) == kll.n


def test_native_kll_check_gives_the_python_check_reasons() -> None:
    """The Rust KLL validation accepts what the Python check accepts and rejects the rest with
    the same reason: valid sketches (empty, one item, exact, several levels) and thousands of
    byte flips, truncations and extensions of them."""
    from driftline.sketches import kll_guard

    assert kll_guard._native_kll_check is not None, "the install builds sketches._native"
    rng = np.random.default_rng(23)
    blobs = []
    for n in (0, 1, 5, 200, 3_000, 100_000):
        kll = kll_doubles_sketch(200)
        kll.update(rng.normal(size=n))
        blobs.append(kll.serialize())

    def reason(check: Callable[[bytes, int, str], None], raw: bytes, k: int) -> str | None:
        try:
            check(raw, k, "x")
        except SketchFormatError as exc:
            return str(exc)
        return None

    cases = 0
    rejected = 0
    for raw in blobs:
        variants = [raw, raw[:-8], raw + b"\0" * 8, raw[: len(raw) // 2], raw[:7]]
        for _ in range(400):
            b = bytearray(raw)
            i = int(rng.integers(len(b)))
            flip = b[i] ^ (1 << int(rng.integers(8)))
            b[i] = int(rng.integers(256)) if rng.random() < 0.5 else flip
            variants.append(bytes(b))
        for v in variants:
            for k in (200, 100):
                native = reason(kll_guard.check_kll_doubles, v, k)
                assert native == reason(kll_guard.check_kll_python, v, k), (v, k)
                cases += 1
                rejected += native is not None
    assert reason(kll_guard.check_kll_doubles, blobs[-1], 200) is None
    assert cases == 6 * 405 * 2 and cases / 2 < rejected < cases
