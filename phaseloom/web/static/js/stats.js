// The phase dashboard: the same figures as `phaseloom stats` (GET /api/stats) as a table and as
// bar charts drawn here in SVG, so nothing comes from a CDN. Live: task, ticket and anomaly events
// refresh it, coalesced so a burst of events costs one request.

import { api, coalesce, currentProject, el, say } from "./api.js";
import { live } from "./live.js";

const SVG = "http://www.w3.org/2000/svg";
const LIVE_TYPES = /^(task|ticket|board|anomaly)\./;
const tableBody = document.querySelector("#phase-table tbody");
const charts = document.getElementById("charts");
const windowSelect = document.getElementById("filter-window");
let project = null;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// Same rounding as the CLI table, so the two read alike.
const seconds = (value) => (value === null || value === undefined ? "-" : value.toFixed(1));
const percent = (value) => (value === null || value === undefined ? "-" : `${Math.round(value * 100)}%`);
const wip = (p) => (p.wip_limit ? `${p.tickets_in_column ?? 0}/${p.wip_limit}` : "-");

function renderTable(report) {
  if (!report.phases.length) {
    tableBody.replaceChildren(el("tr", {}, el("td", { colspan: "9" }, "No tasks in this window.")));
    return;
  }
  tableBody.replaceChildren(...report.phases.map((p) => {
    const worst = p.phase_id === report.bottleneck;
    return el("tr", { class: worst ? "bottleneck" : null, dataset: { phaseId: p.phase_id } },
      el("th", { scope: "row" }, p.phase_id,
         worst ? el("span", { class: "bottleneck-marker", title: report.bottleneck_reason }, " ◀ bottleneck") : ""),
      el("td", {}, String(p.completed)), el("td", {}, p.throughput_per_hour.toFixed(2)),
      el("td", {}, seconds(p.median_seconds)), el("td", {}, seconds(p.p90_seconds)),
      el("td", {}, percent(p.failure_rate)), el("td", {}, String(p.queue_depth)),
      el("td", {}, String(p.in_progress)), el("td", {}, wip(p)));
  }));
}

// A horizontal bar chart, one row per phase and one bar per series in that row.
function barChart({ id, title, phases, bottleneck, series, format }) {
  const label = 200, span = 300, bar = 14, gap = 4, pad = 8;
  const row = series.length * (bar + gap) + pad;
  const top = series.length > 1 ? 22 : 4;
  const largest = Math.max(0, ...phases.flatMap((p) => series.map((s) => p[s.key] || 0)));
  const picture = svg("svg", { id, class: "chart", role: "img", "aria-labelledby": `${id}-title`, "aria-label": title,
                               width: label + span + 80, height: top + phases.length * row, viewBox:
                               `0 0 ${label + span + 80} ${top + phases.length * row}` },
                      svg("title", { id: `${id}-title` }, title));
  if (series.length > 1) {
    series.forEach((s, i) => picture.append(
      svg("rect", { x: label + i * 90, y: 4, width: 12, height: 12, class: `legend-key ${s.cls}` }),
      svg("text", { x: label + i * 90 + 16, y: 14 }, s.label)));
  }
  phases.forEach((p, index) => {
    const y = top + index * row;
    const worst = p.phase_id === bottleneck;
    picture.append(svg("text", { x: label - 8, y: y + bar, "text-anchor": "end", class: worst ? "phase bottleneck" : "phase" },
                       p.phase_id));
    series.forEach((s, i) => {
      const value = p[s.key];
      const width = largest && value ? Math.max(1, (value / largest) * span) : 0;
      const text = value === null || value === undefined ? "no data" : format(value);
      const by = y + i * (bar + gap);
      picture.append(
        svg("rect", { x: label, y: by, width: width.toFixed(1), height: bar,
                      class: `bar ${s.cls}${worst ? " bottleneck" : ""}`, "data-phase-id": p.phase_id },
            svg("title", {}, `${p.phase_id} ${s.label}: ${text}`)),
        svg("text", { x: label + width + 6, y: by + bar - 3, class: "value" }, text));
    });
  });
  return el("figure", { class: "chart-box" }, el("figcaption", { "aria-hidden": "true" }, title), picture);
}

function renderCharts(report) {
  const common = { phases: report.phases, bottleneck: report.bottleneck };
  charts.replaceChildren(
    barChart({ ...common, id: "chart-queue", title: "Queue depth per phase (tasks waiting now)",
               series: [{ key: "queue_depth", label: "queued", cls: "series-queue" }], format: String }),
    barChart({ ...common, id: "chart-throughput", title: "Throughput per phase (tasks finished per hour)",
               series: [{ key: "throughput_per_hour", label: "per hour", cls: "series-throughput" }],
               format: (v) => v.toFixed(2) }),
    barChart({ ...common, id: "chart-duration", title: "Task duration per phase, median and p90 (seconds)",
               series: [{ key: "median_seconds", label: "median", cls: "series-p50" },
                        { key: "p90_seconds", label: "p90", cls: "series-p90" }],
               format: (v) => (v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(1)} s`) }));
}

function renderAnomalies(anomalies) {
  document.getElementById("anomalies-section").hidden = !anomalies.length;
  document.getElementById("anomalies").replaceChildren(...anomalies.map((a) => el("li", {},
    `task ${a.task_id} ${a.metric} ${a.value} vs baseline ${a.baseline_mean}±${a.baseline_stddev} `,
    `(${a.agent_type} in ${a.phase_id})`)));
}

async function load() {
  const hours = Number(windowSelect.value);
  const since = new Date(Date.now() - hours * 3600 * 1000).toISOString();
  const query = new URLSearchParams({ since });
  if (project) query.set("project", project.name);
  const report = await api(`/api/stats?${query}`);
  document.getElementById("bottleneck").replaceChildren(report.bottleneck
    ? el("span", {}, "Bottleneck: ", el("strong", {}, report.bottleneck), ` — ${report.bottleneck_reason}`)
    : `No bottleneck: ${report.bottleneck_reason}.`);
  renderTable(report);
  renderCharts(report);
  renderAnomalies(report.anomalies);
  document.getElementById("stats").dataset.loaded = "";
  say("");
}

const refresh = coalesce(load, 300);

async function start() {
  ({ project } = await currentProject());
  document.getElementById("project-name").textContent = project ? `· project ${project.name}` : "· all projects";
  await load();
  windowSelect.addEventListener("change", refresh);
  live({ filter: project ? { project_id: project.id } : {},
         onEvent: (event) => { if (LIVE_TYPES.test(event.event_type)) refresh(); },
         onReady: ({ first }) => { if (!first) refresh(); } });
}

start().catch((error) => say(error.message));
