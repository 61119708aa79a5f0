// The workflow of a project: phases with prompts, done definitions, expected outputs, transitions.

import { api, currentProject, el, say } from "./api.js";
import { staticPage } from "./live.js";

const root = document.getElementById("workflow");
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// Phases on one row in sequence order; forward transitions arc above, backward ones below. A phase
// that (nearly) every other phase can move to, like BLOCKED, is a "hub": it is drawn once at the end
// of the row, reached from a rail under the phases that lead to it ("any phase → Blocked"), and
// its ways back are listed in words instead of one arc per phase.
const CHAR = 7.2, PAD = 16, GAP = 36, Y = 90;

function hubPhases(phases) {
  return phases.filter((hub) => {
    const others = phases.filter((p) => p.id !== hub.id && !p.is_terminal);
    const sources = others.filter((p) => p.transitions.includes(hub.id));
    return others.length >= 3 && sources.length >= others.length - 1;
  });
}

function names(ids, byId) {
  return ids.map((id) => byId.get(id)?.name || id);
}

function transitionsPicture(phases) {
  const hubs = new Set(hubPhases(phases).map((p) => p.id));
  const row = [...phases.filter((p) => !hubs.has(p.id)), ...phases.filter((p) => hubs.has(p.id))];
  const byId = new Map(phases.map((p) => [p.id, p]));
  const x = new Map(), width = new Map();
  let left = 20;
  for (const phase of row) {  // each box as wide as its name: long names fit
    width.set(phase.id, Math.max(90, Math.ceil(phase.name.length * CHAR) + PAD));
    x.set(phase.id, left);
    left += width.get(phase.id) + GAP;
  }
  const mid = (id) => x.get(id) + width.get(id) / 2;
  const height = hubs.size ? 230 : 180;
  const picture = svg("svg", { width: left, height, role: "img", "aria-label": "Transitions between phases" });
  for (const phase of row) {
    for (const target of phase.transitions) {
      if (!x.has(target) || hubs.has(target) || hubs.has(phase.id)) continue;
      const [x1, x2] = [mid(phase.id), mid(target)];
      const forward = x2 > x1;
      const bend = forward ? Y - 20 - Math.abs(x2 - x1) / 8 : Y + 20 + Math.abs(x2 - x1) / 8;
      picture.append(svg("path", { d: `M${x1},${forward ? Y - 14 : Y + 14} Q${(x1 + x2) / 2},${bend} ${x2},${forward ? Y - 14 : Y + 14}`,
                                   class: forward ? "edge" : "edge edge-back", fill: "none", "data-from": phase.id,
                                   "data-to": target }));
    }
  }
  for (const hub of row.filter((p) => hubs.has(p.id))) picture.append(hubNotation(hub, row, byId, x, mid));
  for (const phase of row) {
    picture.append(svg("rect", { x: x.get(phase.id), y: Y - 14, width: width.get(phase.id), height: 28, rx: 6,
                                 class: hubs.has(phase.id) ? "phase-band hub" : "phase-band", "data-phase-id": phase.id }),
                   svg("text", { x: x.get(phase.id) + PAD / 2, y: Y + 5, class: "phase-name" }, phase.name));
  }
  return el("figure", { class: "graph workflow-graph" }, picture);
}

// The rail: a short tick down from each phase that can move to ``hub``, one line along them, one arrow
// into the hub, one label; the hub's ways back as text under it.
function hubNotation(hub, row, byId, x, mid) {
  const sources = row.filter((p) => p.id !== hub.id && p.transitions.includes(hub.id));
  const rail = Y + 44;
  const group = svg("g", { class: "hub-notation", "data-hub": hub.id });
  if (sources.length) {
    const first = mid(sources[0].id);
    for (const source of sources) {
      group.append(svg("line", { class: "edge edge-hub", x1: mid(source.id), y1: Y + 14, x2: mid(source.id), y2: rail }));
    }
    group.append(svg("path", { class: "edge edge-hub", fill: "none", "marker-end": "url(#hub-arrow)",
                               d: `M${first},${rail} H${mid(hub.id)} V${Y + 16}` }));
    const others = row.filter((p) => p.id !== hub.id && !p.is_terminal);
    const all = others.every((p) => sources.includes(p));
    group.append(svg("text", { class: "hub-label", x: first, y: rail + 18 },
                     `${all ? "any phase" : "any phase but " + names(others.filter((p) => !sources.includes(p)).map((p) => p.id), byId).join(", ")} → ${hub.name}`));
  }
  if (hub.transitions.length) {
    group.append(svg("text", { class: "hub-label hub-back", x: sources.length ? mid(sources[0].id) : 20, y: rail + 38 },
                     `${hub.name} → back to ${names(hub.transitions, byId).join(", ")}`));
  }
  const defs = svg("defs", {}, svg("marker", { id: "hub-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "8",
                                               markerHeight: "8", orient: "auto-start-reverse" },
                                   svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#b3261e" })));
  group.prepend(defs);
  return group;
}

function list(items, render) {
  return items.length ? el("ul", {}, items.map((item) => el("li", {}, render(item)))) : el("p", {}, "none");
}

async function start() {
  const { project } = await currentProject();
  if (!project) { root.replaceChildren(el("p", {}, "No projects yet.")); staticPage(); return; }
  const wf = await api(`/api/ui/workflow?project=${encodeURIComponent(project.name)}`);
  document.getElementById("workflow-name").textContent = `· ${wf.name} (${wf.mode}) · project ${project.name}`;
  root.replaceChildren(
    wf.description ? el("p", {}, wf.description) : "",
    wf.has_launch_template ? el("p", {}, el("a", { id: "launch-link",
      href: `/launch?workflow=${encodeURIComponent(wf.name)}&project=${encodeURIComponent(project.name)}` },
      "Launch a ticket from this workflow's form")) : "",
    transitionsPicture(wf.phases),
    el("h2", {}, "Board columns"),
    list(wf.columns, (c) => `${c.name}: ${c.phase_mapping.join(", ")}${c.wip_limit ? ` (WIP limit ${c.wip_limit})` : ""}`),
    el("div", { class: "phases" }, wf.phases.map((p) => el("section", { class: "panel", "aria-labelledby": `phase-${p.id}` },
      el("h2", { id: `phase-${p.id}` }, `${p.sequence_order}. ${p.name} `, el("code", {}, p.id), p.is_terminal ? " (terminal)" : ""),
      p.description ? el("p", {}, p.description) : "",
      el("h3", {}, "Transitions"), el("p", {}, p.transitions.length ? p.transitions.join(", ") : "none"),
      el("h3", {}, "Done definitions"), list(p.done_definitions, (d) => d),
      el("h3", {}, "Expected outputs"), list(p.expected_outputs, (o) => `${o.type}: ${o.pattern}${o.required ? "" : " (optional)"}`),
      p.prompt ? el("details", {}, el("summary", {}, "Phase prompt"), el("pre", {}, p.prompt)) : "",
      Object.keys(p.gate || {}).length ? el("details", {}, el("summary", {}, "Gate"), el("pre", {}, JSON.stringify(p.gate, null, 2))) : ""))));
  staticPage("the workflow changes only when it is loaded again: reload to see it");
}

start().catch((error) => say(error.message));
