"""``alerts.report_url``: Slack digests and PagerDuty events carry the HTML report's link next to
the Grafana link, with the alert's placeholders filled in; a bad placeholder fails the config.
The digest's context line also names the baseline version."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from driftline.alerts import Alerting, AlertsConfig, DriftConfig
from tests.fixtures.receivers import PagerDutyReceiver, SlackReceiver
from tests.test_alerts_delivery import alerts_config, environ, window

REPORT = "https://reports.example.com/{monitor}/{date}.html#{feature}-{segment}={cohort}"


def test_slack_and_pagerduty_link_the_report_next_to_grafana(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver
) -> None:
    cfg = alerts_config(slack_receiver, pagerduty_receiver).model_dump()
    cfg["report_url"] = REPORT
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=500, for_windows=1),
                        alerts=AlertsConfig.model_validate(cfg), state_dir=tmp_path / "state",
                        environ=environ(slack_receiver, pagerduty_receiver)).start()
    events = alerting.observe_window([replace(m, details={**m.details, "baseline_version": "b1"})
                                      for m in window(0, {"f03": 0.35})])
    assert [(e.state, e.severity) for e in events] == [("firing", "critical")]
    assert alerting.flush(timeout=20)
    alerting.close()
    link = "https://reports.example.com/fraud/2026-09-21.html#f03-region=eu"
    digests = slack_receiver.digests()
    assert len(digests) == 1
    section = digests[0]["blocks"][1]["text"]["text"]
    assert f"|Open in Grafana> · <{link}|Open the report>" in section
    # the context line names the baseline version the alerts were evaluated against
    assert [e["text"] for e in digests[0]["blocks"][-1]["elements"]][1:] == ["baseline b1"]
    assert digests[0]["text"].splitlines()[-1] == "baseline b1"
    triggers = pagerduty_receiver.events("trigger")
    assert len(triggers) == 1
    assert [x["text"] for x in triggers[0]["links"]] == ["Open in Grafana",
                                                         "Open the driftline report"]
    assert triggers[0]["links"][1]["href"] == link
    assert triggers[0]["payload"]["custom_details"]["report"] == link


def test_an_unknown_placeholder_in_report_url_fails_with_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"report_url has unknown placeholders \['team'\]"):
        AlertsConfig.model_validate({"report_url": "https://r.example.com/{team}.html"})
