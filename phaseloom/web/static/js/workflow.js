// The workflow of a project: phases with prompts, done definitions, expected outputs, transitions.

import { api, currentProject, el, say } from "./api.js";

const root = document.getElementById("workflow");
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// Phases on one row in sequence order; forward transitions arc above, backward ones below.
function transitionsPicture(phases) {
  const step = 150, y = 90;
  const x = new Map(phases.map((p, i) => [p.id, 20 + i * step]));
  const picture = svg("svg", { width: phases.length * step + 20, height: 180, role: "img",
                               "aria-label": "Transitions between phases" });
  for (const phase of phases) {
    for (const target of phase.transitions) {
      if (!x.has(target)) continue;
      const [x1, x2] = [x.get(phase.id) + 60, x.get(target) + 60];
      const forward = x2 > x1;
      const bend = forward ? y - 20 - Math.abs(x2 - x1) / 8 : y + 20 + Math.abs(x2 - x1) / 8;
      picture.append(svg("path", { d: `M${x1},${forward ? y - 14 : y + 14} Q${(x1 + x2) / 2},${bend} ${x2},${forward ? y - 14 : y + 14}`,
                                   class: forward ? "edge" : "edge edge-discovery", fill: "none" }));
    }
  }
  for (const phase of phases) {
    picture.append(svg("rect", { x: x.get(phase.id), y: y - 14, width: 120, height: 28, rx: 6, class: "phase-band" }),
                   svg("text", { x: x.get(phase.id) + 8, y: y + 5 }, phase.name));
  }
  return el("figure", { class: "graph" }, picture);
}

function list(items, render) {
  return items.length ? el("ul", {}, items.map((item) => el("li", {}, render(item)))) : el("p", {}, "none");
}

async function start() {
  const { project } = await currentProject();
  if (!project) { root.replaceChildren(el("p", {}, "No projects yet.")); return; }
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
  document.getElementById("live-status").textContent = "static";
}

start().catch((error) => say(error.message));
