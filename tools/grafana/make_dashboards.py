#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/{cluster-overview,sweep,member}.json (Grafana 10+ schema).

The JSON files are what Grafana loads; this script is how they were made: edit it and run
`python3 tools/grafana/make_dashboards.py`, or edit the JSON in Grafana and export it over the file.
"""
import json
import os

DS = {"type": "prometheus", "uid": "gancluster-prometheus"}
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "grafana", "dashboards")
MEMBER = 'sweep="$sweep",member="$member"'


class Layout:
    def __init__(self):
        self.x = self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def id(self):
        self.next_id += 1
        return self.next_id - 1


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": not instant, "instant": instant}
    if fmt != "time_series":
        t["format"] = fmt
    return t


def timeseries(lay, title, targets, unit="short", w=12, h=8, description="", min_=None, max_=None, thresholds=None):
    defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never", "spanNulls": True}}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {"id": lay.id(), "type": "timeseries", "title": title, "description": description, "datasource": DS,
            "gridPos": lay.place(w, h), "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(lay, title, targets, unit="short", w=4, h=4, description="", mappings=None):
    return {"id": lay.id(), "type": "stat", "title": title, "description": description, "datasource": DS,
            "gridPos": lay.place(w, h), "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or []}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}}


def bargauge(lay, title, targets, unit="short", w=8, h=8, description=""):
    return {"id": lay.id(), "type": "bargauge", "title": title, "description": description, "datasource": DS,
            "gridPos": lay.place(w, h), "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True}}


def variable(name, query, label, include_all=False):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-var"},
            "refresh": 2, "sort": 1, "includeAll": include_all, "multi": False, "current": {}, "options": [], "hide": 0}


def annotation(name, expr, text, color):
    return {"name": name, "datasource": DS, "enable": True, "iconColor": color, "expr": expr, "step": "30s",
            "titleFormat": name, "textFormat": text, "tagKeys": "sweep,member", "useValueForTime": False}


def dashboard(uid, title, description, panels, variables=(), annotations=(), refresh="10s"):
    return {
        "uid": uid, "title": title, "description": description, "tags": ["gancluster"], "timezone": "browser",
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": refresh,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
                                  "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]
                        + list(annotations)},
        "links": [{"title": "GanCluster", "type": "dashboards", "tags": ["gancluster"], "asDropdown": True}],
        "panels": panels,
    }


def cluster_overview():
    lay = Layout()
    p = [
        stat(lay, "Silos up", [target('count(up{job="gancluster-silo"} == 1) or vector(0)', instant=True)],
             description="Silos Prometheus scrapes successfully (job gancluster-silo)."),
        stat(lay, "Silos down", [target('count(up{job="gancluster-silo"} == 0) or vector(0)', instant=True)],
             description="Silos Prometheus cannot scrape; see the GanSiloDown alert."),
        stat(lay, "Members running", [target('sum(gancluster_members{state="running"}) or vector(0)', instant=True)]),
        stat(lay, "Members queued", [target('sum(gancluster_sweep_members{state="queued"}) or vector(0)', instant=True)],
             description="Sweep members waiting for a slot under their sweep's concurrency limit."),
        stat(lay, "Members diverged", [target('sum(gancluster_members{state="diverged"}) or vector(0)', instant=True)]),
        stat(lay, "Total steps/s", [target("sum(rate(gancluster_member_steps_total[$__rate_interval])) or vector(0)")], unit="none",
             description="G steps per second over every member of the cluster."),
        bargauge(lay, "Members by status (silos)", [target("sum by (state) (gancluster_members)", "{{state}}", instant=True)],
                 description="Members whose coordinator is on a silo, by state; finished ones stay until their coordinator is collected."),
        bargauge(lay, "Sweep members by status", [target("sum by (state) (gancluster_sweep_members)", "{{state}}", instant=True)],
                 description="Members of every sweep, by state (queued = not started yet)."),
        timeseries(lay, "Steps per second by silo", [target("sum by (instance) (rate(gancluster_member_steps_total[$__rate_interval]))", "{{instance}}")],
                   unit="none", w=8),
        timeseries(lay, "Device memory in use", [target("gancluster_device_memory_usage_bytes", "{{instance}} {{device}}")], unit="bytes",
                   description="device=cpu: the silo process's resident memory (libtorch CPU tensors included)."),
        timeseries(lay, "Step latency", [
            target("histogram_quantile(0.5, sum by (le) (rate(gancluster_step_duration_seconds_bucket[$__rate_interval])))", "p50"),
            target("histogram_quantile(0.95, sum by (le) (rate(gancluster_step_duration_seconds_bucket[$__rate_interval])))", "p95", "B"),
        ], unit="s", description="One schedule step (k D steps and one G step) as coordinators see it."),
        timeseries(lay, "Worker call latency p95", [
            target("histogram_quantile(0.95, sum by (le, role, operation) (rate(gancluster_worker_call_duration_seconds_bucket[$__rate_interval])))", "{{role}} {{operation}}"),
        ], unit="s", w=8),
        timeseries(lay, "Bytes exchanged", [target("sum by (kind) (rate(gancluster_exchange_bytes_total[$__rate_interval]))", "{{kind}}")], unit="Bps", w=8,
                   description="Samples (G to D), gradients (D to G) and weights crossing grain boundaries."),
        timeseries(lay, "Checkpoints", [
            target("histogram_quantile(0.95, sum by (le) (rate(gancluster_checkpoint_duration_seconds_bucket[$__rate_interval])))", "duration p95"),
        ], unit="s", w=8),
        timeseries(lay, "Checkpoint size (mean)", [
            target("sum(rate(gancluster_checkpoint_size_bytes_sum[$__rate_interval])) / sum(rate(gancluster_checkpoint_size_bytes_count[$__rate_interval]))", "mean size"),
        ], unit="bytes", w=8),
        timeseries(lay, "Orleans activations by silo", [target("sum by (instance) (orleans_catalog_activations)", "{{instance}}")], w=8),
        timeseries(lay, "PBT exploits and explores", [
            target("sum by (sweep) (increase(gancluster_pbt_exploits_total[$__rate_interval]))", "{{sweep}} exploits"),
            target("sum by (sweep) (increase(gancluster_pbt_explores_total[$__rate_interval]))", "{{sweep}} explores", "B"),
        ], w=8),
    ]
    return dashboard("gancluster-overview", "GanCluster / Cluster overview",
                     "Silos, members by status, total steps per second, device memory, latencies and traffic.", p)


def sweep_view():
    lay = Layout()
    s = 'sweep="$sweep"'
    table = {
        "id": lay.id(), "type": "table", "title": "Leaderboard", "datasource": DS, "gridPos": lay.place(16, 10),
        "description": "Members of the sweep ranked by fitness (mixtures: modes covered fraction x high-quality fraction; images: minus the Frechet distance).",
        "targets": [
            target(f"gancluster_member_fitness{{{s}}}", ref="A", instant=True, fmt="table"),
            target(f"gancluster_member_step{{{s}}}", ref="B", instant=True, fmt="table"),
            target(f"gancluster_member_modes_covered{{{s}}}", ref="C", instant=True, fmt="table"),
            target(f"gancluster_member_high_quality_fraction{{{s}}}", ref="D", instant=True, fmt="table"),
            target(f"gancluster_member_steps_per_second{{{s}}}", ref="E", instant=True, fmt="table"),
        ],
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True, "__name__": True, "instance": True, "job": True, "cluster": True, "otel_scope_name": True, "sweep": True},
                "renameByName": {"Value #A": "fitness", "Value #B": "step", "Value #C": "modes covered", "Value #D": "high quality", "Value #E": "steps/s"},
                "indexByName": {"member": 0, "population": 1, "Value #A": 2, "Value #B": 3, "Value #C": 4, "Value #D": 5, "Value #E": 6}}},
            {"id": "sortBy", "options": {"sort": [{"field": "fitness", "desc": True}]}},
        ],
        "fieldConfig": {"defaults": {"decimals": 3}, "overrides": [
            {"matcher": {"id": "byName", "options": "step"}, "properties": [{"id": "decimals", "value": 0}]},
            {"matcher": {"id": "byName", "options": "modes covered"}, "properties": [{"id": "decimals", "value": 0}]},
            {"matcher": {"id": "byName", "options": "high quality"}, "properties": [{"id": "unit", "value": "percentunit"}]},
        ]},
        "options": {"showHeader": True, "sortBy": [{"displayName": "fitness", "desc": True}]},
    }
    p = [
        table,
        bargauge(lay, "Members by status", [target(f"gancluster_sweep_members{{{s}}}", "{{state}}", instant=True)], w=8, h=10),
        timeseries(lay, "Fitness per member", [target(f"gancluster_member_fitness{{{s}}}", "{{member}}")],
                   description="Evaluated fitness over time; PBT exploits are marked as annotations."),
        timeseries(lay, "Modes covered per member", [target(f"gancluster_member_modes_covered{{{s}}}", "{{member}}")],
                   description="Mixtures: modes covered by high-quality samples at each evaluation (a fall is mode collapse)."),
        timeseries(lay, "D(x) on real and fake (equilibrium 1/2)", [
            target(f"gancluster_member_discriminator_real{{{s}}}", "{{member}} real"),
            target(f"gancluster_member_discriminator_fake{{{s}}}", "{{member}} fake", "B"),
        ], unit="none", min_=0, max_=1,
                   thresholds=[{"color": "transparent", "value": None}, {"color": "green", "value": 0.5}],
                   description="Mean D(x) on real and on generated samples; both converge toward 1/2 when G matches the data."),
        timeseries(lay, "|D(x) - 1/2|", [
            target(f"gancluster_member_discriminator_real_distance{{{s}}}", "{{member}} real"),
            target(f"gancluster_member_discriminator_fake_distance{{{s}}}", "{{member}} fake", "B"),
        ], unit="none", min_=0, max_=0.5, description="Distance of mean D(x) from the ideal 1/2 (0 = D cannot tell)."),
        timeseries(lay, "Discriminator loss", [target(f"gancluster_member_discriminator_loss{{{s}}}", "{{member}}")], w=8),
        timeseries(lay, "Generator loss", [target(f"gancluster_member_generator_loss{{{s}}}", "{{member}}")], w=8),
        timeseries(lay, "Steps per second", [target(f"gancluster_member_steps_per_second{{{s}}}", "{{member}}")], unit="none", w=8),
    ]
    return dashboard("gancluster-sweep", "GanCluster / Sweep",
                     "One sweep: leaderboard, fitness and modes per member, D(x) converging toward 1/2, losses; PBT exploits as annotations.",
                     p, variables=[variable("sweep", "label_values(gancluster_member_step, sweep)", "sweep")],
                     annotations=[annotation("PBT exploit", f"increase(gancluster_pbt_exploits_total{{{s}}}[1m]) > 0", "{{member}} exploited a top member", "orange"),
                                  annotation("PBT explore", f"increase(gancluster_pbt_explores_total{{{s}}}[1m]) > 0", "{{member}} explored new hyperparameters", "purple")])


def member_view():
    lay = Layout()
    m = MEMBER
    p = [
        stat(lay, "Step", [target(f"gancluster_member_step{{{m}}}", instant=True)], unit="none"),
        stat(lay, "Target steps", [target(f"gancluster_member_target_steps{{{m}}}", instant=True)], unit="none"),
        stat(lay, "Status", [target(f"gancluster_member_status{{{m}}} == 1", "{{state}}", instant=True)],
             description="The member's state (pending, running, paused, completed, cancelled, diverged, failed)."),
        stat(lay, "Fitness", [target(f"gancluster_member_fitness{{{m}}}", instant=True)], unit="none"),
        stat(lay, "Steps/s", [target(f"gancluster_member_steps_per_second{{{m}}}", instant=True)], unit="none"),
        stat(lay, "Last evaluation at step", [target(f"gancluster_member_evaluation_step{{{m}}}", instant=True)], unit="none"),
        timeseries(lay, "Losses", [
            target(f"gancluster_member_discriminator_loss{{{m}}}", "D loss"),
            target(f"gancluster_member_generator_loss{{{m}}}", "G loss", "B"),
        ]),
        timeseries(lay, "D(x) on real and fake (equilibrium 1/2)", [
            target(f"gancluster_member_discriminator_real{{{m}}}", "D(real)"),
            target(f"gancluster_member_discriminator_fake{{{m}}}", "D(fake)", "B"),
            target(f"gancluster_member_discriminator_real_distance{{{m}}}", "|D(real) - 1/2|", "C"),
            target(f"gancluster_member_discriminator_fake_distance{{{m}}}", "|D(fake) - 1/2|", "D"),
        ], min_=0, max_=1, thresholds=[{"color": "transparent", "value": None}, {"color": "green", "value": 0.5}]),
        timeseries(lay, "Modes covered", [
            target(f"gancluster_member_modes_covered{{{m}}}", "covered"),
            target(f"gancluster_member_mixture_modes{{{m}}}", "modes of the mixture", "B"),
        ], w=8),
        timeseries(lay, "High-quality fraction and reverse KL", [
            target(f"gancluster_member_high_quality_fraction{{{m}}}", "high quality"),
            target(f"gancluster_member_reverse_kl{{{m}}}", "reverse KL", "B"),
        ], w=8),
        timeseries(lay, "Fitness", [target(f"gancluster_member_fitness{{{m}}}", "fitness")], w=8),
        timeseries(lay, "Gradient norms", [
            target(f"gancluster_member_generator_grad_norm{{{m}}}", "G"),
            target(f"gancluster_member_discriminator_grad_norm{{{m}}}", "D", "B"),
        ], w=8, description="L2 norms of G's and D's parameter gradients (a vanishing G norm with a saturated D: try the non-saturating loss)."),
        timeseries(lay, "Step and steps per second", [
            target(f"gancluster_member_step{{{m}}}", "step"),
            target(f"gancluster_member_steps_per_second{{{m}}}", "steps/s", "B"),
        ], w=8),
        timeseries(lay, "Steps completed (rate)", [target(f"rate(gancluster_member_steps_total{{{m}}}[$__rate_interval])", "steps/s")], unit="none", w=8),
    ]
    return dashboard("gancluster-member", "GanCluster / Member",
                     "Everything of one member: status, losses, D(x), modes, quality, fitness, gradient norms, speed; PBT exploits as annotations.",
                     p, variables=[variable("sweep", "label_values(gancluster_member_step, sweep)", "sweep"),
                                   variable("member", 'label_values(gancluster_member_step{sweep="$sweep"}, member)', "member")],
                     annotations=[annotation("PBT exploit", f"increase(gancluster_pbt_exploits_total{{{m}}}[1m]) > 0", "exploited a top member", "orange")])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, board in [("cluster-overview", cluster_overview()), ("sweep", sweep_view()), ("member", member_view())]:
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(board, f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
