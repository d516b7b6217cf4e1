"""docs/grafana-dashboard.json against Grafana's dashboard JSON model (grafana_model.py);
the checker itself is shown to catch each kind of mistake. (That every query runs on a
real Prometheus is test_fleet_prometheus.py's.)"""
import copy
import json
import re
from pathlib import Path

import pytest

from grafana_model import problems
from oomguard.serverext.metrics import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
SERIES = {name + ("_total" if kind == "counter" else "") for name, kind, _, _ in FAMILIES}


def dashboard():
    return json.loads(DASHBOARD.read_text())


def exprs(board):
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_fits_grafanas_model():
    assert problems(dashboard()) == []


def test_it_shows_every_series_and_names_no_other():
    used = {name for expr in exprs(dashboard()) for name in re.findall(r"oomguard_\w+", expr)}
    assert used == SERIES


def test_it_has_the_fleet_views():
    titles = [panel["title"] for panel in dashboard()["panels"]]
    for wanted in ("Kernels nearest their limit", "Watchdog interrupts over time",
                   "OOM kills over time"):
        assert wanted in titles


def _break(board, how):
    panels = board["panels"]
    if how == "overlap":
        panels[1]["gridPos"] = dict(panels[0]["gridPos"])
    elif how == "past the grid":
        panels[0]["gridPos"]["x"] = 20
    elif how == "same id":
        panels[1]["id"] = panels[0]["id"]
    elif how == "no refId":
        del panels[0]["targets"][0]["refId"]
    elif how == "unknown variable":
        panels[0]["targets"][0]["expr"] += ' * on() group_left vector($nowhere)'
    elif how == "thresholds out of order":
        panels[4]["fieldConfig"]["defaults"]["thresholds"]["steps"].reverse()
    elif how == "no fieldConfig":
        del panels[0]["fieldConfig"]
    elif how == "bad variable type":
        board["templating"]["list"][0]["type"] = "dropdown"
    elif how == "no schemaVersion":
        del board["schemaVersion"]
    elif how == "empty expr":
        panels[0]["targets"][0]["expr"] = " "
    return board


@pytest.mark.parametrize("how", ["overlap", "past the grid", "same id", "no refId",
                                 "unknown variable", "thresholds out of order",
                                 "no fieldConfig", "bad variable type", "no schemaVersion",
                                 "empty expr"])
def test_the_checker_catches(how):
    assert problems(_break(copy.deepcopy(dashboard()), how)) != []
