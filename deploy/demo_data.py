"""Data for the compose demo, from driftline's demo generator (payments events with drift,
a new category, a stalled feature and malformed records injected on purpose).

    python demo_data.py training OUT.jsonl [ROWS]     # training data for `driftline baseline build`
    python demo_data.py events OUT.jsonl [WINDOWS]    # live events, event time starting now

Events are then sent in real time by ``driftline produce --rate`` (rate printed on stdout by
``events``: events per window / window seconds).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from driftline.stream.config.model import load_config
from driftline.stream.demo.generator import PaymentsGenerator, encode_events

CONFIG = Path(__file__).with_name("driftline.yaml")
EVENTS_PER_WINDOW = 3000


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("training", "events"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, out = argv[0], Path(argv[1])
    window = load_config(CONFIG).windows.size if CONFIG.exists() else 60.0
    now = time.time()
    if kind == "training":
        rows = int(argv[2]) if len(argv) > 2 else 100_000
        gen = PaymentsGenerator(seed=42, events_per_window=EVENTS_PER_WINDOW,
                                window_seconds=window, start=now)
        ts = now - 86_400 + np.sort(np.random.default_rng(1).random(rows)) * 86_400
        out.write_bytes(b"\n".join(encode_events(gen.training(rows), ts)) + b"\n")
        return 0
    windows = int(argv[2]) if len(argv) > 2 else 60
    gen = PaymentsGenerator(seed=int(now), events_per_window=EVENTS_PER_WINDOW,
                            window_seconds=window, start=now)
    with out.open("wb") as fh:
        for i in range(windows):
            fh.write(b"\n".join(gen.window(i).values) + b"\n")
    print(f"{EVENTS_PER_WINDOW / window:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
