"""Every way a driftline.yaml can lie is caught by ``check-config``: exit 2 and exactly one line
per problem, naming the field and the fix (never a traceback, never "ok")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from driftline.stream.cli import EXIT_CONFIG, EXIT_OK, app

Mutation = Callable[[dict[str, Any]], None]


def base_config() -> dict[str, Any]:
    return {
        "monitor": "fraud",
        "source": {"kafka": {"bootstrap_servers": "127.0.0.1:9092", "topics": ["transactions"]},
                   "event_time": {"field": "ts"}},
        "features": [{"name": "amount", "type": "numeric", "range": [0, 50000]},
                     {"name": "merchant", "type": "categorical"}],
        "segments": ["region"],
        "windows": {"size": "5m"},
        "metrics": {"listen": None},
    }


def problems(output: str) -> list[str]:
    """The problem lines of a check-config output (``  - field: message``)."""
    return [line[4:] for line in output.splitlines() if line.startswith("  - ")]


def check(tmp_path: Path, text: str | bytes, *args: str) -> tuple[int, str]:
    path = tmp_path / "driftline.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    res = CliRunner().invoke(app, ["check-config", "-c", str(path), *args])
    assert "Traceback" not in res.output
    return res.exit_code, res.output


def _set(path: str, value: Any) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _then(*mutations: Mutation) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        for m in mutations:
            m(cfg)
    return mutate


# (case, mutation, the one problem line check-config must print)
CASES: list[tuple[str, Mutation, str]] = [
    ("unknown drift metric", _set("drift.metric", "psii"),
     "drift.metric: unknown value 'psii' (did you mean 'psi'?)"),
    ("repeated feature name", _set("features.1", {"name": "amount", "type": "categorical"}),
     "features: feature names must be unique; repeated: ['amount']"),
    ("repeated segment", _set("segments", ["region", "region"]),
     "segments: segments must be unique; repeated: ['region']"),
    ("segment that is also a feature", _set("segments", ["region", "merchant"]),
     "segments: a segment field cannot also be a monitored feature: ['merchant']"),
    ("unknown metric in metrics", _set("drift.metrics", ["psi", "kss"]),
     "drift.metrics.1: unknown value 'kss' (did you mean 'ks'?)"),
    ("unknown metric in an override",
     _set("drift.overrides", {"amount": {"metric": "wasserstien"}}),
     "drift.overrides.amount.metric: unknown value 'wasserstien' (did you mean 'wasserstein'?)"),
    ("unknown metric as a thresholds key", _set("drift.thresholds", {"psii": {"warning": 0.1}}),
     "drift.thresholds.psii: unknown value 'psii' (did you mean 'psi'?)"),
    ("warning above critical", _set("drift", {"warning": 0.3, "critical": 0.2}),
     "drift.critical: critical (0.2) is below warning (0.3): critical must be >= warning"),
    ("warning above the default critical", _set("drift", {"metric": "js", "warning": 0.22}),
     "drift.warning: critical (the psi/ks/js default 0.2) is below warning (0.22): critical "
     "must be >= warning; set critical too"),
    ("clear above warning", _set("drift", {"warning": 0.1, "critical": 0.2, "clear": 0.15}),
     "drift.clear: clear (0.15) is above warning (0.1): clear must be <= warning (alerts "
     "resolve below it)"),
    ("per-metric tiers out of order", _set("drift.thresholds", {"ks": {"warning": 0.3,
                                                                      "critical": 0.1}}),
     "drift.thresholds.ks.critical: critical (0.1) is below warning (0.3): critical must be >= "
     "warning"),
    ("override tiers out of order", _set("drift", {"warning": 0.1, "critical": 0.2, "overrides": {
        "amount": {"warning": 0.5}}}),
     "drift.overrides.amount: critical (0.2) is below warning (0.5): critical must be >= "
     "warning"),
    ("quality tiers out of order", _set("quality.null_ratio", {"warning": 0.2, "critical": 0.1}),
     "quality.null_ratio.critical: critical (0.1) is below warning (0.2): critical must be >= "
     "warning"),
    ("negative drift threshold", _set("drift.warning", -0.1),
     "drift.warning: must be >= 0 (got -0.1)"),
    ("negative quality threshold", _set("quality.nan_ratio", {"warning": -0.01}),
     "quality.nan_ratio.warning: must be >= 0 (got -0.01)"),
    ("quality ratio above 1", _set("quality.null_ratio", {"warning": 0.05, "critical": 25}),
     "quality.null_ratio.critical: a ratio is between 0 and 1, got 25.0 (write 5% as 0.05)"),
    ("unknown ratio in a quality override", _set("quality.overrides", {
        "amount": {"nul_ratio": {"warning": 0.1}}}),
     "quality.overrides.amount.nul_ratio: unknown quality ratio 'nul_ratio' (did you mean "
     "'null_ratio'?)"),
    ("drop_warning below drop_critical", _set("volume", {"drop_warning": 0.05,
                                                         "drop_critical": 0.2}),
     "volume.drop_warning: drop_warning (0.05) is below drop_critical (0.2): a drop warns first,"
     " so drop_warning must be >= drop_critical"),
    ("spike_critical below spike_warning", _set("volume", {"spike_warning": 3,
                                                           "spike_critical": 2}),
     "volume.spike_critical: spike_critical (2.0) is below spike_warning (3.0): it must be >= "
     "spike_warning"),
    ("drift override of a feature that does not exist", _set("drift.overrides", {
        "amount_usd": {"warning": 0.2, "critical": 0.3}}),
     "drift.overrides.amount_usd: no feature named 'amount_usd' (did you mean 'amount'?)"),
    ("override metric that does not apply to the feature", _set("drift.overrides", {
        "merchant": {"metric": "ks"}}),
     "drift.overrides.merchant.metric: ks does not apply to categorical feature 'merchant'; "
     "use one of psi, js, chi2"),
    ("quality ratio a categorical feature never has", _set("quality.overrides", {
        "merchant": {"nan_ratio": {"warning": 0.1}}}),
     "quality.overrides.merchant.nan_ratio: nan_ratio is always 0 for categorical feature "
     "'merchant' (it applies to numeric features); remove it"),
    ("out-of-range ratio of a feature without a range", _then(
        _set("features.0", {"name": "amount", "type": "numeric"}),
        _set("quality.overrides", {"amount": {"out_of_range_ratio": {"warning": 0.1}}})),
     "quality.overrides.amount.out_of_range_ratio: feature 'amount' has no range, so nothing is "
     "out of range; set its range or remove this"),
    ("quality override of a feature that does not exist", _set("quality.overrides", {
        "merchnat": {"null_ratio": {"warning": 0.1}}}),
     "quality.overrides.merchnat: no feature named 'merchnat' (did you mean 'merchant'?)"),
    ("freshness rule on a feature that does not exist", _set("freshness", [
        {"feature": "user_purchase_history", "max_staleness": "6h"}]),
     "freshness.0.feature: no feature named 'user_purchase_history' (valid: amount, merchant)"),
    ("freshness rule on a segment that does not exist", _set("freshness", [
        {"cohort": "regoin=eu", "max_staleness": "10m"}]),
     "freshness.0.cohort: 'regoin' is not one of the segments ['region'] (did you mean "
     "'region'?)"),
    ("freshness rule on a topic that is not consumed", _set("freshness", [
        {"topic": "transaction", "max_staleness": "5m"}]),
     "freshness.0.topic: 'transaction' is not a source topic (source.kafka.topics: "
     "['transactions']) (did you mean 'transactions'?)"),
    ("freshness rule routed to an undefined channel", _set("freshness", [
        {"topic": "transactions", "max_staleness": "5m", "alert_channels": ["pagerdty"]}]),
     "freshness.0.alert_channels: no channel named 'pagerdty' in alerts.channels"),
    ("freshness_tick 0s", _set("freshness_tick", "0s"),
     "freshness_tick: must be > 0 (got 0.0)"),
    ("absurd window size", _set("windows.size", "99999999999999999999d"),
     "windows.size: longer than 3650d (ten years): not a plausible duration; use e.g. 5m, 1d "
     "(got '99999999999999999999d')"),
    ("sub-second window", _set("windows.size", "1500ms"),
     "windows.size: window tiers are whole seconds, got 1.5s; use e.g. 30s, 5m"),
    ("checkpoint_interval 0s", _set("source.kafka.checkpoint_interval", 0),
     "source.kafka.checkpoint_interval: must be > 0 (got 0.0)"),
    ("infinite duration", _set("windows.allowed_lateness", "inf"),
     "windows.allowed_lateness: not a duration: 'inf' (use e.g. 30s, 5m, 6h, 1d) (got 'inf')"),
    ("listen address without a port", _set("metrics.listen", "notaport"),
     "metrics.listen: expected host:port, e.g. 127.0.0.1:9108 or 0.0.0.0:9108, got 'notaport'"),
    ("listen port out of range", _set("metrics.listen", "0.0.0.0:99999"),
     "metrics.listen: port 99999 is not a TCP port (0-65535)"),
]


@pytest.mark.parametrize(("mutate", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_lie_is_one_line_naming_the_field_and_exit_2(
        tmp_path: Path, mutate: Mutation, line: str) -> None:
    cfg = base_config()
    mutate(cfg)
    code, out = check(tmp_path, yaml.safe_dump(cfg))
    assert code == EXIT_CONFIG, out
    assert problems(out) == [line]


def test_the_base_config_is_ok(tmp_path: Path) -> None:
    code, out = check(tmp_path, yaml.safe_dump(base_config()))
    assert code == EXIT_OK, out
    assert problems(out) == []


def test_several_problems_are_all_listed_one_line_each(tmp_path: Path) -> None:
    cfg = base_config()
    cfg["quality"] = {"null_ratio": {"warning": 1.5, "critical": 2}}
    cfg["volume"] = {"drop_warning": 0.05, "drop_critical": 0.2}
    cfg["metrics"] = {"listen": "notaport"}
    code, out = check(tmp_path, yaml.safe_dump(cfg))
    assert code == EXIT_CONFIG
    assert [p.split(":")[0] for p in problems(out)] == [
        "quality.null_ratio.warning", "quality.null_ratio.critical", "volume.drop_warning",
        "metrics.listen"]


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path: Path) -> None:
    text = yaml.safe_dump(base_config(), sort_keys=False)
    text += "drift:\n  metric: psi\n  warning: 0.1\n  metric: ks\nmonitor: other\n"
    code, out = check(tmp_path, text)
    first = text.splitlines().index("monitor: fraud") + 1
    drift = text.splitlines().index("drift:") + 1
    assert code == EXIT_CONFIG
    assert problems(out) == [
        f"drift.metric: key written twice (lines {drift + 1} and {drift + 3}); keep one (YAML "
        "would silently use the last)",
        f"monitor: key written twice (lines {first} and {drift + 4}); keep one (YAML would "
        "silently use the last)",
    ]


def test_duplicate_keys_inside_a_list_item(tmp_path: Path) -> None:
    text = yaml.safe_dump(base_config(), sort_keys=False)
    text += "freshness:\n  - {topic: transactions, topic: payments, max_staleness: 5m}\n"
    code, out = check(tmp_path, text)
    line = len(text.splitlines())
    assert code == EXIT_CONFIG
    assert problems(out) == [f"freshness.0.topic: key written twice (lines {line} and {line}); "
                             "keep one (YAML would silently use the last)"]


def test_a_non_utf8_file_names_the_byte_and_the_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(base_config(), sort_keys=False).replace("fraud", "fraud-caf\xe9")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "caf" in t)
    code, out = check(tmp_path, text.encode("latin-1"))
    assert code == EXIT_CONFIG
    assert problems(out) == [f"not UTF-8 text: byte 0xe9 on line {line} cannot be decoded; "
                             "save the file as UTF-8"]


def test_a_utf8_file_with_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    code, out = check(tmp_path, b"\xef\xbb\xbf" + yaml.safe_dump(base_config()).encode())
    assert code == EXIT_OK, out


def test_a_metric_no_feature_type_gets_is_a_warning_not_an_error(tmp_path: Path) -> None:
    cfg = base_config()
    cfg["drift"] = {"metric": "ks"}
    code, out = check(tmp_path, yaml.safe_dump(cfg))
    assert code == EXIT_OK, out
    assert ("warning: drift.metric: ks is not computed for categorical features ['merchant']: "
            "their drift never alerts (add one of psi, js, chi2 to drift.metrics, or an "
            "override)") in out
