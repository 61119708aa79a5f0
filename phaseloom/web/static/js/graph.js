// The workflow graph as SVG. Coordinates come from the server (services/graph_layout.py: a lane per ticket); this only draws.

import { api, coalesce, currentProject, el, params, rememberProject, say, when } from "./api.js";
import { live, staticPage } from "./live.js";

const SVG = "http://www.w3.org/2000/svg";
const figure = document.getElementById("graph");
const detail = document.getElementById("task-detail");
const projectSelect = document.getElementById("graph-project");
const ticketSelect = document.getElementById("graph-ticket");
const STATUS_BY_EVENT = { "task.assigned": "claimed", "task.started": "running", "task.completed": "completed",
                          "task.failed": "failed", "task.cancelled": "cancelled", "task.under_review": "under_review",
                          "task.input_requested": "waiting_input", "task.input_answered": "pending" };
let scope = {};
let selected = null;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function markers() {
  const defs = svg("defs");
  for (const kind of ["dependency", "phase", "discovery"]) {
    defs.append(svg("marker", { id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "9",
                                markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow-${kind}`,
                    fill: kind === "discovery" ? "#b3261e" : kind === "phase" ? "#1d2330" : "#5b6475" })));
  }
  return defs;
}

function edgePath(source, target, graph, kind) {
  const w = graph.node_width, h = graph.node_height;
  if (target.x > source.x && kind !== "discovery") {
    const [x1, y1, x2, y2] = [source.x + w, source.y + h / 2, target.x, target.y + h / 2];
    const bend = (x2 - x1) / 2;
    return { d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, mid: [(x1 + x2) / 2, (y1 + y2) / 2] };
  }
  // Backwards (a discovery sends work to an earlier phase) or sideways: an arc under the nodes.
  const [x1, y1, x2, y2] = [source.x + w / 2, source.y + h, target.x + w / 2, target.y + h];
  const depth = 36 + Math.abs(x1 - x2) / 6;
  const low = Math.max(y1, y2) + depth;
  // The curve's lowest point is 3/4 of the way to its control points; the label goes just under it.
  const bottom = Math.max(y1, y2) + 0.75 * (low - Math.max(y1, y2));
  return { d: `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`, mid: [(x1 + x2) / 2, bottom + 14] };
}

function render(graph) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const root = svg("svg", { width: graph.width, height: graph.height + 40, viewBox: `0 0 ${graph.width} ${graph.height + 40}`,
                            role: "group", "aria-label": `${graph.nodes.length} tasks, ${graph.edges.length} edges` });
  root.append(markers());
  const bands = svg("g", { class: "phases" });
  const band = (graph.column_width || 240) - 8;
  for (const column of graph.columns) {
    bands.append(svg("rect", { class: "phase-band", x: column.x, y: 8, width: band, height: graph.height + 24, rx: 8 }),
                 svg("text", { class: "phase-title", x: column.x + 8, y: 30 }, column.name));
  }
  // One lane per ticket (see graph_layout.py): a thin rule between lanes and the ticket's number at the left.
  for (const [index, lane] of (graph.lanes || []).entries()) {
    if (index > 0) bands.append(svg("line", { class: "lane-rule", x1: 8, x2: graph.width - 8, y1: lane.y - 10, y2: lane.y - 10 }));
    bands.append(svg("text", { class: "lane-title", x: 6, y: lane.y + 26, "data-ticket-id": lane.ticket_id },
                     `#${lane.ticket_id}`));
  }
  const edges = svg("g", { class: "edges" });
  for (const edge of graph.edges) {
    const source = byId.get(edge.source), target = byId.get(edge.target);
    if (!source || !target) continue;
    const { d, mid } = edgePath(source, target, graph, edge.type);
    const line = svg("path", { d, class: `edge edge-${edge.type}`, "marker-end": `url(#arrow-${edge.type})`,
                               "data-source": edge.source, "data-target": edge.target, "data-type": edge.type });
    line.append(svg("title", {}, edge.label || edge.type));
    edges.append(line);
    if (edge.type === "discovery") {
      edges.append(svg("text", { class: "edge-label", "data-discovery-type": edge.discovery_type || "", x: mid[0], y: mid[1], "text-anchor": "middle" }, edge.label || ""));
    }
  }
  const nodes = svg("g", { class: "nodes" });
  for (const node of graph.nodes) nodes.append(nodeView(node, graph));
  root.append(bands, edges, nodes);
  figure.replaceChildren(root);
  fitLabels(root, graph.node_width - 14);
  fitTitles(root, (graph.column_width || 240) - 8 - 14);
  figure.dataset.loaded = "true";
  if (graph.truncated) say("The graph shows the first 5,000 tasks only.", "error");
}

// Shorten a text element with "…" until it fits ``width`` pixels, as the browser measures it with its font.
function fit(text, width) {
  const full = text.textContent;
  if (text.getComputedTextLength() <= width) return;
  let low = 0, high = full.length;
  while (low < high) {  // the longest prefix that fits, with the ellipsis
    const middle = Math.ceil((low + high) / 2);
    text.textContent = `${full.slice(0, middle).trimEnd()}…`;
    if (text.getComputedTextLength() <= width) low = middle; else high = middle - 1;
  }
  text.textContent = `${full.slice(0, low).trimEnd()}…`;
}

function fitLabels(root, width) {
  for (const text of root.querySelectorAll(".node text")) fit(text, width);
}

function fitTitles(root, width) {
  for (const text of root.querySelectorAll(".phase-title")) {
    const name = text.textContent;
    fit(text, width);
    if (text.textContent !== name) text.setAttribute("aria-label", name);
  }
}

function nodeView(node, graph) {
  const title = node.title;
  const group = svg("g", { class: `node status-${node.status}${selected === node.task_id ? " selected" : ""}`,
                           transform: `translate(${node.x},${node.y})`, tabindex: "0", role: "button",
                           "data-task-id": node.task_id, "data-status": node.status,
                           "aria-label": `Task ${node.task_id}: ${node.title}, ${node.status}` },
    svg("rect", { width: graph.node_width, height: graph.node_height, rx: 6 }),
    svg("text", { x: 7, y: 17 }, `#${node.task_id} ${title}`),
    svg("text", { x: 7, y: 33, class: "node-status" }, `${node.status}${node.agent ? ` · @${node.agent}` : ""}`));
  group.append(svg("title", {}, node.title));
  return group;
}

async function showTask(taskId) {
  selected = taskId;
  for (const node of figure.querySelectorAll(".node")) node.classList.toggle("selected", Number(node.dataset.taskId) === taskId);
  const task = await api(`/api/ui/tasks/${taskId}`);
  detail.replaceChildren(
    el("h2", {}, `Task #${task.id}`),
    el("p", {}, task.title),
    el("dl", { class: "facts" },
      el("dt", {}, "Status"), el("dd", { id: "detail-status" }, task.status),
      el("dt", {}, "Phase"), el("dd", {}, task.phase_id),
      el("dt", {}, "Type"), el("dd", {}, task.task_type),
      el("dt", {}, "Agent"), el("dd", {}, task.agent || "none"),
      el("dt", {}, "Retries"), el("dd", {}, String(task.retry_count)),
      el("dt", {}, "Created"), el("dd", {}, when(task.created_at))),
    task.description ? el("p", {}, task.description) : "",
    task.error ? el("pre", { class: "error" }, task.error) : "",
    task.result ? el("details", {}, el("summary", {}, "Result"), el("pre", {}, JSON.stringify(task.result, null, 2))) : "",
    preloadedMemories(task.preloaded_memories || []),
    el("p", {}, el("a", { href: `/ticket?id=${task.ticket_id}` }, `Open ticket #${task.ticket_id}`)));
}

// The memories the task's instructions carried when they were last built, in their order.
function preloadedMemories(memories) {
  if (!memories.length) return el("p", { id: "detail-memories" }, "No memories preloaded into the instructions.");
  return el("details", { id: "detail-memories" },
    el("summary", {}, `Preloaded memories (${memories.length})`),
    el("ol", {}, memories.map((m) => el("li", { "data-memory-id": m.memory_id },
      el("strong", {}, `#${m.memory_id} ${m.memory_type}${m.phase_id ? `, ${m.phase_id}` : ""}: `), m.content))));
}

figure.addEventListener("click", (event) => {
  const node = event.target.closest(".node");
  if (node) showTask(Number(node.dataset.taskId)).catch((error) => say(error.message));
});
figure.addEventListener("keydown", (event) => {
  const node = event.target.closest(".node");
  if (node && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    showTask(Number(node.dataset.taskId)).catch((error) => say(error.message));
  }
});

async function load() {
  const query = scope.ticket ? `ticket_id=${scope.ticket}` : `project=${encodeURIComponent(scope.project)}`;
  render(await api(`/api/ui/graph?${query}`));
  if (selected) showTask(selected).catch(() => {});
}
const refresh = coalesce(load, 120);

function onEvent(event) {
  const status = STATUS_BY_EVENT[event.event_type];
  if (status && event.entity_type === "task") {
    const node = figure.querySelector(`.node[data-task-id="${event.entity_id}"]`);
    if (node) node.setAttribute("class", `node status-${status}`);
  }
  if (/^(task|discovery|ticket)\./.test(event.event_type)) refresh();
}

async function start() {
  const found = await currentProject();
  const ticket = params().get("ticket");
  if (!found.project && !ticket) { figure.replaceChildren(el("p", {}, "No projects yet.")); staticPage(); return; }
  const project = found.project;
  scope = { project: project.name, ticket };
  projectSelect.replaceChildren(...found.projects.map((p) => el("option", { value: p.name, selected: p.name === project.name }, p.name)));
  const tickets = (await api(`/api/tickets?project=${encodeURIComponent(project.name)}&limit=500`)).items;
  ticketSelect.append(...tickets.map((t) => el("option", { value: t.id, selected: String(t.id) === ticket }, `#${t.id} ${t.title}`)));
  document.getElementById("graph-scope").textContent = ticket ? `· ticket #${ticket}` : `· ${project.name}`;
  projectSelect.addEventListener("change", () => { location.search = `?project=${encodeURIComponent(projectSelect.value)}`; });
  ticketSelect.addEventListener("change", () => {
    location.search = ticketSelect.value ? `?project=${encodeURIComponent(project.name)}&ticket=${ticketSelect.value}`
                                         : `?project=${encodeURIComponent(project.name)}`;
  });
  rememberProject(project.name);
  await load();
  const filter = ticket ? { ticket_id: ticket } : { project_id: project.id };
  live({ filter, onEvent, onReady: ({ first }) => { if (!first) refresh(); } });
}

start().catch((error) => say(error.message));
