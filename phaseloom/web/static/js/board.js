// The kanban board: columns with WIP, cards that move by drag and drop or by keyboard.

import { api, coalesce, currentProject, el, params, rememberProject, say } from "./api.js";
import { live, staticPage } from "./live.js";

const board = document.getElementById("board");
const projectSelect = document.getElementById("filter-project");
const prioritySelect = document.getElementById("filter-priority");
const LIVE_TYPES = /^(ticket|board|task|discovery|phase_gate|validation|merge|pool)\./;
let project = null;
let columns = [];

function wipState(column) {
  if (!column.wip_limit) return "free";
  if (column.wip_use >= column.wip_limit) return "full";
  return column.wip_use >= Math.max(1, column.wip_limit - 1) || column.wip_use / column.wip_limit >= 0.8 ? "near" : "ok";
}

function cardView(card) {
  const choices = columns.map((c) => el("option", { value: c.id, selected: c.id === card.column_key }, c.name));
  const moveId = `move-${card.id}`;
  return el("li", { class: "card-slot" },
    el("article", { class: "card", draggable: "true", tabindex: "-1", "aria-labelledby": `card-title-${card.id}`,
                    dataset: { ticketId: card.id, priority: card.priority } },
      el("h3", { id: `card-title-${card.id}` }, el("a", { href: `/ticket?id=${card.id}` }, card.title)),
      el("p", { class: "meta" },
        el("span", { class: `badge priority-${card.priority.toLowerCase()}` }, card.priority), " ",
        el("span", { class: "phase" }, card.phase_name),
        card.merge_queue ? [" ", el("span", { class: "badge merge-queued", title: "waiting in the merge queue to land" },
                                    `merge queue #${card.merge_queue}`)] : ""),
      el("dl", { class: "facts" },
        card.agents.length ? [el("dt", {}, "Agents"), el("dd", {}, card.agents.join(", "))] : "",
        card.activity ? [el("dt", {}, "Now"), el("dd", { class: "activity" }, card.activity)] : "",
        el("dt", {}, "Tasks"), el("dd", {}, String(card.tasks)),
        card.open_discoveries ? [el("dt", { title: "open discoveries" }, "Discoveries"),
                                  el("dd", { class: "discoveries" }, String(card.open_discoveries))] : "",
        el("dt", {}, "Gate"), el("dd", { class: `gate gate-${card.gate || "none"}` }, card.gate || "not run"),
        card.blocked_reason ? [el("dt", {}, "Blocked"), el("dd", {}, card.blocked_reason)] : ""),
      el("form", { class: "move", onsubmit: (event) => { event.preventDefault();
        moveCard(card.id, event.target.elements.column.value); } },
        el("label", { for: moveId }, "Move to"),
        el("select", { id: moveId, name: "column" }, choices),
        el("button", { type: "submit" }, "Move"))));
}

function columnView(column) {
  const state = wipState(column);
  const list = el("ol", { class: "cards", dataset: { columnId: column.id } },
    column.cards.map((card) => cardView({ ...card, column_key: column.id })));
  const section = el("section", { class: `column wip-${state}`, dataset: { columnId: column.id },
                                  "aria-labelledby": `col-${column.id}` },
    el("header", {},
      el("h2", { id: `col-${column.id}` }, column.name),
      el("p", { class: "wip", title: "work in progress: in use / limit" },
        column.wip_limit ? `${column.wip_use} / ${column.wip_limit}` : String(column.wip_use),
        state === "full" ? (column.wip_use > column.wip_limit ? " (over limit)" : " (at limit)")
          : state === "near" ? " (near limit)" : "")),
    list);
  section.addEventListener("dragover", (event) => { event.preventDefault(); section.classList.add("drop-target"); });
  section.addEventListener("dragleave", () => section.classList.remove("drop-target"));
  section.addEventListener("drop", (event) => {
    event.preventDefault();
    section.classList.remove("drop-target");
    const ticketId = Number(event.dataTransfer.getData("text/plain"));
    if (ticketId) moveCard(ticketId, column.id);
  });
  return section;
}

// The Needs input lane: agents' questions waiting for a person, each linking to its ticket's answer form.
const needsInput = document.getElementById("needs-input");
function renderQuestions(questions) {
  needsInput.hidden = !questions.length;
  document.getElementById("needs-input-list").replaceChildren(...questions.map((q) =>
    el("li", { class: "question", dataset: { taskId: q.task_id } },
      el("p", {}, el("a", { href: `/ticket?id=${q.ticket_id}#answer-${q.task_id}` }, `#${q.ticket_id} ${q.ticket_title}`),
        ` · task #${q.task_id} · ${q.phase_id}`),
      el("blockquote", {}, q.question),
      q.options.length ? el("p", { class: "options" }, `Options: ${q.options.join(" · ")}`) : "")));
}

// A pool held back by a rate or usage limit: "pool worker: paused until 14:05 (rate limit)".
function showPauses(pauses) {
  const line = document.getElementById("paused-pools");
  line.replaceChildren(...(pauses || []).map((p) => el("span", { class: "paused-pool", title: p.until },
                                                       `pool ${p.pool}: ${p.label}`)));
  line.hidden = !(pauses && pauses.length);
}

function render(data) {
  showPauses(data.paused_pools);
  renderQuestions(data.needs_input || []);
  columns = data.columns;
  const fragment = document.createDocumentFragment();
  for (const column of columns) fragment.append(columnView(column));
  board.replaceChildren(fragment);
  board.dataset.loaded = "true";
  showScrollAffordance();
}

// When the columns do not all fit, the board scrolls sideways: say so, and fade the edge that hides more.
const scrollHint = document.getElementById("board-scroll-hint");
function showScrollAffordance() {
  const hidden = board.scrollWidth - board.clientWidth;
  const more = hidden > 2;
  board.classList.toggle("more-right", more && board.scrollLeft < hidden - 2);
  board.classList.toggle("more-left", more && board.scrollLeft > 2);
  if (scrollHint) scrollHint.hidden = !more;
}
board.addEventListener("scroll", showScrollAffordance, { passive: true });
window.addEventListener("resize", showScrollAffordance);

board.addEventListener("dragstart", (event) => {
  const card = event.target.closest(".card");
  if (!card) return;
  event.dataTransfer.setData("text/plain", card.dataset.ticketId);
  event.dataTransfer.effectAllowed = "move";
  card.classList.add("dragging");
});
board.addEventListener("dragend", (event) => event.target.closest(".card")?.classList.remove("dragging"));

async function moveCard(ticketId, columnId) {
  const card = board.querySelector(`.card[data-ticket-id="${ticketId}"]`);
  const slot = card?.closest(".card-slot");
  const from = slot?.parentElement;
  const next = slot?.nextSibling;
  const target = board.querySelector(`ol.cards[data-column-id="${columnId}"]`);
  if (!slot || !target || from === target) return;
  target.append(slot);  // show the move at once; undone below if the server refuses it
  try {
    const ticket = await api("/api/board/move", { method: "POST", body: { ticket_id: ticketId, column_id: columnId } });
    say(`Moved “${ticket.title}” to ${ticket.phase_name}.`, "ok");
  } catch (error) {
    from.insertBefore(slot, next);
    card.focus();
    say(`Could not move the card: ${error.message}`);
  }
  refresh();
}

async function load() {
  if (!project) return;
  const query = new URLSearchParams({ project: project.name });
  if (prioritySelect.value) query.set("priority", prioritySelect.value);
  render(await api(`/api/ui/board?${query}`));
}
const refresh = coalesce(load, 120);

async function start() {
  const found = await currentProject();
  project = found.project;
  projectSelect.replaceChildren(...found.projects.map((p) =>
    el("option", { value: p.name, selected: project && p.name === project.name }, p.name)));
  prioritySelect.value = params().get("priority") || "";
  if (!project) {
    board.replaceChildren(el("p", {}, "No projects yet: create one with phaseloom project create."));
    staticPage();
    return;
  }
  document.getElementById("project-name").textContent = `· ${project.name}`;
  projectSelect.addEventListener("change", () => { location.search = `?project=${encodeURIComponent(projectSelect.value)}`; });
  prioritySelect.addEventListener("change", () => {
    const query = params();
    if (prioritySelect.value) query.set("priority", prioritySelect.value); else query.delete("priority");
    history.replaceState(null, "", `?${query}`);
    refresh();
  });
  rememberProject(project.name);
  await load();
  live({ filter: { project_id: project.id }, onEvent: (event) => { if (LIVE_TYPES.test(event.event_type)) refresh(); },
         onReady: ({ first }) => { if (!first) refresh(); } });
}

start().catch((error) => say(error.message));
