"""Alerting cost on the ingestion path, and delivery throughput.

* ``observe_window`` latency for one window of 50 features × 40 cohorts (2000 drift
  measurements): evaluate-only (backtest), and with the durable outbox while a local PagerDuty-like
  receiver answers 202 or 500 (ingestion must not care).
* Delivery throughput: PagerDuty events drained from the outbox per second to a local receiver.

    python -m bench.bench_alerts [--windows 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from driftline.alerts import Alerting, AlertsConfig, DriftConfig, Measurement

FEATURES, COHORTS = 50, 40
T0 = 1_790_000_000.0


class Receiver:
    """A loopback HTTP endpoint answering ``status`` (202 by default) to every POST."""

    def __init__(self) -> None:
        self.status = 202
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.count += 1
                body = b'{"status":"success","message":"Event processed"}'
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"


def windows(count: int, drifting: int, seed: int = 0) -> list[list[Measurement]]:
    """``drifting`` feature × cohort pairs flip between critical and calm every window, so every
    window produces notifications."""
    rng = np.random.default_rng(seed)
    out = []
    for w in range(count):
        start = T0 + 300 * w
        psi = rng.chisquare(9, size=(COHORTS, FEATURES)) / 2000
        p = rng.uniform(size=(COHORTS, FEATURES))
        if drifting:
            hot = 0.5 if w % 2 == 0 else 0.001
            psi.flat[:drifting] = hot
            p.flat[:drifting] = 1e-30 if hot > 0.1 else 0.9
        out.append([
            Measurement("bench", "drift", "psi", f"f{f:02d}", "region", f"c{c:02d}", "5m", start,
                        start + 300, float(psi[c, f]), n=2000, m=200_000, p_value=float(p[c, f]))
            for c in range(COHORTS) for f in range(FEATURES)
        ])
    return out


def latency(alerting: Alerting, batches: list[list[Measurement]]) -> dict[str, float]:
    samples = []
    for batch in batches:
        t = time.perf_counter()
        alerting.observe_window(batch)
        samples.append(time.perf_counter() - t)
    ms = sorted(s * 1e3 for s in samples)
    return {"median_ms": statistics.median(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))],
            "max_ms": ms[-1]}


def make(receiver: Receiver, state: Path) -> Alerting:
    cfg = AlertsConfig.model_validate({
        "channels": {"pagerduty": {"type": "pagerduty", "routing_key_env": "B_KEY",
                                   "url_env": "B_URL"}},
        "routes": {"critical": ["pagerduty"], "warning": []},
        "delivery": {"backoff_initial": 0.05, "backoff_max": 0.2},
    })
    return Alerting("bench", drift=DriftConfig(min_samples=100, for_windows=1, clear_windows=1),
                    alerts=cfg, state_dir=state, environ={"B_KEY": "k" * 32, "B_URL": receiver.url})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--drifting", type=int, default=20, help="alert keys flipping per window")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    batches = windows(args.windows, args.drifting)
    results: dict[str, Any] = {"measurements_per_window": FEATURES * COHORTS}

    results["evaluate_only"] = latency(
        Alerting("bench", drift=DriftConfig(min_samples=100, for_windows=1), deliver=False),
        batches)

    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        alerting = make(receiver, Path(tmp) / "ok").start()
        results["outbox_receiver_ok"] = latency(alerting, batches)
        alerting.flush(120)
        alerting.close()

        receiver.status = 500
        alerting = make(receiver, Path(tmp) / "failing").start()
        results["outbox_receiver_500"] = latency(alerting, batches)
        alerting.close()

        receiver.status = 202
        alerting = make(receiver, Path(tmp) / "failing")
        pending = alerting.pending()
        t = time.perf_counter()
        alerting.start()
        drained = alerting.flush(300)
        elapsed = time.perf_counter() - t
        alerting.close()
        results["delivery"] = {"notifications": pending, "drained": drained,
                               "seconds": elapsed, "per_second": pending / elapsed}
    receiver.server.shutdown()

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"observe_window, {FEATURES} features x {COHORTS} cohorts "
          f"({args.drifting} keys changing per window, {args.windows} windows):")
    for name in ("evaluate_only", "outbox_receiver_ok", "outbox_receiver_500"):
        r = results[name]
        print(f"  {name:22s} median {r['median_ms']:.1f} ms  p95 {r['p95_ms']:.1f} ms  "
              f"max {r['max_ms']:.1f} ms")
    d = results["delivery"]
    print(f"delivery after restart: {d['notifications']} PagerDuty events in {d['seconds']:.2f} s "
          f"({d['per_second']:.0f}/s), drained={d['drained']}")


if __name__ == "__main__":
    main()
