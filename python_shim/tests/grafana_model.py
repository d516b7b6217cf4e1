"""A checker for Grafana's classic dashboard JSON model: the rules of Grafana's own schema
(kinds/dashboard/dashboard_kind.cue in grafana/grafana: Dashboard, Panel, RowPanel,
GridPos, FieldConfigSource, ThresholdsConfig, ValueMapping, VariableModel,
AnnotationQuery, DataTransformerConfig), plus what the dashboard grid implies: panels
inside its 24 columns, none overlapping, ids unique, and every $variable a query uses
defined. `problems(dashboard)` lists what is wrong, in words; [] when it would load."""
from __future__ import annotations

import re
from typing import Any, List

VARIABLE_TYPES = {"query", "adhoc", "constant", "datasource", "interval", "textbox", "custom",
                  "system"}
MAPPING_TYPES = {"value", "range", "regex", "special"}
BUILTIN_VARIABLES = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s",
                     "__range_ms", "__from", "__to", "__dashboard", "__name", "__org",
                     "__user", "timeFilter"}
GRID_COLUMNS = 24
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VARIABLE_USE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+)|\[\[(\w+)\]\])")


def _is(value: Any, kind) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


class _Checker:
    def __init__(self):
        self.found: List[str] = []
        self.variables = set()
        self.ids = set()

    def need(self, ok: bool, where: str, what: str) -> bool:
        if not ok:
            self.found.append(f"{where}: {what}")
        return ok

    def optional(self, obj: dict, key: str, kind, where: str) -> None:
        if key in obj:
            self.need(_is(obj[key], kind), where, f"{key} must be {kind.__name__}")

    def dashboard(self, d: Any) -> None:
        if not self.need(isinstance(d, dict), "dashboard", "must be an object"):
            return
        self.need(_is(d.get("title"), str) and d["title"].strip() != "", "dashboard",
                  "needs a title")
        if "uid" in d:
            self.need(_is(d["uid"], str) and bool(UID.match(d["uid"])), "dashboard",
                      "uid must be 1-40 letters, digits, - or _")
        self.need(_is(d.get("schemaVersion"), int) and 0 <= d["schemaVersion"] < 2 ** 16,
                  "dashboard", "schemaVersion must be a uint16")
        self.optional(d, "editable", bool, "dashboard")
        self.need(d.get("graphTooltip", 0) in (0, 1, 2), "dashboard", "graphTooltip is 0, 1 or 2")
        if "style" in d:
            self.need(d["style"] in ("light", "dark"), "dashboard", "style is light or dark")
        for key in ("timezone", "description", "weekStart"):
            self.optional(d, key, str, "dashboard")
        if "refresh" in d:
            self.need(d["refresh"] is False or _is(d["refresh"], str), "dashboard",
                      "refresh is an interval string or false")
        if "time" in d:
            time = d["time"]
            self.need(isinstance(time, dict) and _is(time.get("from"), str)
                      and _is(time.get("to"), str), "dashboard", "time needs from and to")
        if "tags" in d:
            self.need(isinstance(d["tags"], list) and all(_is(t, str) for t in d["tags"]),
                      "dashboard", "tags are strings")
        self.templating(d.get("templating", {}))
        self.annotations(d.get("annotations", {}))
        for link in d.get("links", []):
            self.need(isinstance(link, dict) and _is(link.get("title"), str)
                      and link.get("type") in ("link", "dashboards"), "links",
                      "a link needs a title and a type (link, dashboards)")
        panels = d.get("panels", [])
        if self.need(isinstance(panels, list), "dashboard", "panels must be a list"):
            for panel in panels:
                self.panel(panel, top=True)
            self.no_overlap([p for p in panels if isinstance(p, dict)])

    def templating(self, templating: Any) -> None:
        if not self.need(isinstance(templating, dict), "templating", "must be an object"):
            return
        for variable in templating.get("list", []):
            where = f"variable {variable.get('name')!r}" if isinstance(variable, dict) \
                else "variable"
            if not self.need(isinstance(variable, dict), where, "must be an object"):
                continue
            self.need(variable.get("type") in VARIABLE_TYPES, where,
                      f"type must be one of {sorted(VARIABLE_TYPES)}")
            self.need(_is(variable.get("name"), str) and variable["name"] != "", where,
                      "needs a name")
            self.need(variable.get("hide", 0) in (0, 1, 2), where, "hide is 0, 1 or 2")
            if "query" in variable:
                self.need(_is(variable["query"], (str, dict)), where,
                          "query is a string or an object")
            if "datasource" in variable:
                self.datasource(variable["datasource"], where)
            self.variables.add(variable.get("name"))

    def annotations(self, annotations: Any) -> None:
        if not self.need(isinstance(annotations, dict), "annotations", "must be an object"):
            return
        for query in annotations.get("list", []):
            where = "annotation"
            self.need(isinstance(query, dict) and _is(query.get("name"), str)
                      and _is(query.get("enable", True), bool)
                      and _is(query.get("iconColor"), str), where,
                      "needs a name, enable and an iconColor")
            if isinstance(query, dict):
                self.datasource(query.get("datasource"), where)

    def datasource(self, ref: Any, where: str) -> None:
        if ref is None:
            return
        if self.need(isinstance(ref, dict), where, "datasource must be a {type, uid} object"):
            for key in ("type", "uid"):
                self.optional(ref, key, str, where)
            for name in self.uses(ref.get("uid", "")):
                self.need(name in self.variables, where,
                          f"datasource uses ${name}, which no variable defines")

    def panel(self, p: Any, top: bool) -> None:
        if not self.need(isinstance(p, dict), "panel", "must be an object"):
            return
        where = f"panel {p.get('title')!r}"
        self.need(_is(p.get("type"), str) and p["type"] != "", where, "needs a type")
        pid = p.get("id")
        if self.need(_is(pid, int) and 0 <= pid < 2 ** 32, where, "id must be a uint32"):
            self.need(pid not in self.ids, where, f"id {pid} is used twice")
            self.ids.add(pid)
        self.grid(p.get("gridPos"), where)
        self.datasource(p.get("datasource"), where)
        if p.get("type") == "row":
            self.need(_is(p.get("collapsed", False), bool), where, "collapsed is a bool")
            for inner in p.get("panels", []):
                self.panel(inner, top=False)
            return
        for key in ("title", "description", "pluginVersion", "interval", "timeFrom",
                    "timeShift", "repeat"):
            self.optional(p, key, str, where)
        self.optional(p, "transparent", bool, where)
        self.need(isinstance(p.get("options"), dict), where, "options must be an object")
        self.field_config(p.get("fieldConfig"), where)
        transformations = p.get("transformations", [])
        self.need(isinstance(transformations, list) and all(
            isinstance(t, dict) and _is(t.get("id"), str) for t in transformations), where,
            "transformations are {id, options} objects")
        targets = p.get("targets", [])
        if not self.need(isinstance(targets, list), where, "targets must be a list"):
            return
        refs = [t.get("refId") for t in targets if isinstance(t, dict)]
        self.need(len(refs) == len(targets) and all(_is(r, str) and r for r in refs), where,
                  "each target needs a refId")
        self.need(len(set(refs)) == len(refs), where, "refIds must differ")
        for target in targets:
            if isinstance(target, dict):
                self.datasource(target.get("datasource"), where)
                if "expr" in target:
                    self.need(_is(target["expr"], str) and target["expr"].strip() != "",
                              where, "an expr must not be empty")
                    for name in self.uses(target.get("expr", "")):
                        self.need(name in self.variables or name in BUILTIN_VARIABLES, where,
                                  f"the query uses ${name}, which no variable defines")

    def grid(self, grid: Any, where: str) -> None:
        if grid is None:
            return
        if not self.need(isinstance(grid, dict), where, "gridPos must be an object"):
            return
        h, w, x, y = (grid.get(k) for k in "hwxy")
        ok = all(_is(v, int) for v in (h, w, x, y))
        if self.need(ok, where, "gridPos needs integer h, w, x, y"):
            self.need(h > 0 and 0 < w <= GRID_COLUMNS and 0 <= x < GRID_COLUMNS and y >= 0,
                      where, "gridPos out of range (h > 0, 0 < w <= 24, 0 <= x < 24, y >= 0)")
            self.need(x + w <= GRID_COLUMNS, where, "the panel runs past the grid's 24 columns")

    def field_config(self, config: Any, where: str) -> None:
        if not self.need(isinstance(config, dict) and isinstance(config.get("defaults"), dict)
                         and isinstance(config.get("overrides", []), list), where,
                         "fieldConfig needs defaults and overrides"):
            return
        defaults = config["defaults"]
        for key in ("unit", "displayName", "noValue", "description"):
            self.optional(defaults, key, str, where)
        for key in ("decimals", "min", "max"):
            self.optional(defaults, key, float, where)
        if "thresholds" in defaults:
            self.thresholds(defaults["thresholds"], where)
        if "color" in defaults:
            self.need(isinstance(defaults["color"], dict) and _is(defaults["color"].get("mode"),
                                                                  str),
                      where, "color needs a mode")
        for mapping in defaults.get("mappings", []):
            self.need(isinstance(mapping, dict) and mapping.get("type") in MAPPING_TYPES
                      and isinstance(mapping.get("options"), dict), where,
                      "a value mapping needs a type and options")
        self.optional(defaults, "custom", dict, where)
        for override in config.get("overrides", []):
            self.need(isinstance(override, dict) and isinstance(override.get("matcher"), dict)
                      and isinstance(override.get("properties"), list), where,
                      "an override needs a matcher and properties")

    def thresholds(self, thresholds: Any, where: str) -> None:
        if not self.need(isinstance(thresholds, dict)
                         and thresholds.get("mode") in ("absolute", "percentage")
                         and isinstance(thresholds.get("steps"), list), where,
                         "thresholds need a mode (absolute, percentage) and steps"):
            return
        steps = thresholds["steps"]
        self.need(all(isinstance(s, dict) and _is(s.get("color"), str) for s in steps), where,
                  "each threshold step needs a color")
        values = [s.get("value") for s in steps if isinstance(s, dict)]
        self.need(bool(values) and values[0] is None, where,
                  "the first threshold step is the base (value null: -Infinity)")
        rest = values[1:]
        self.need(all(_is(v, float) for v in rest) and rest == sorted(rest), where,
                  "threshold steps after the base are numbers, ascending")

    def no_overlap(self, panels: list) -> None:
        boxes = [(p.get("title"), p["gridPos"]) for p in panels
                 if isinstance(p.get("gridPos"), dict)
                 and all(_is(p["gridPos"].get(k), int) for k in "hwxy")]
        for index, (title, a) in enumerate(boxes):
            for other, b in boxes[index + 1:]:
                apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                         or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
                self.need(apart, f"panel {title!r}", f"overlaps panel {other!r}")

    @staticmethod
    def uses(text: Any) -> List[str]:
        if not isinstance(text, str):
            return []
        return [next(g for g in match.groups() if g) for match in VARIABLE_USE.finditer(text)]


def problems(dashboard: Any) -> List[str]:
    checker = _Checker()
    if isinstance(dashboard, dict):  # variables first: panels may use any of them
        for variable in (dashboard.get("templating") or {}).get("list", []) or []:
            if isinstance(variable, dict):
                checker.variables.add(variable.get("name"))
    checker.dashboard(dashboard)
    return checker.found
