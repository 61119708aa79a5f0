// One ticket: phase history, current gate, its merge-queue entries, artifacts, discoveries, reviews, tasks and
// their worktree snapshots.

import { api, coalesce, el, params, say, when } from "./api.js";
import { live } from "./live.js";

const root = document.getElementById("ticket");
const ticketId = Number(params().get("id"));

function section(title, id, ...content) {
  return el("section", { class: "panel", "aria-labelledby": id }, el("h2", { id }, title), ...content);
}

function table(caption, headers, rows) {
  if (!rows.length) return el("p", {}, `No ${caption.toLowerCase()}.`);
  return el("table", { class: "table" }, el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function gateView(gate, checklist) {
  const parts = [];
  if (!gate) parts.push(el("p", {}, "The gate of this phase has not been validated yet."));
  else {
    parts.push(el("p", { class: gate.passed ? "outcome-pass" : "outcome-fail" },
      `${gate.phase_id}: ${gate.passed ? "passed" : "not passed"} (${when(gate.at)})`));
    parts.push(el("ul", {}, gate.outcomes.map((o) => el("li", { class: o.passed ? "outcome-pass" : "outcome-fail" },
      `${o.passed ? "✔" : "✘"} ${o.criterion || o.type || o.name || "criterion"}${o.reason || o.message ? `: ${o.reason || o.message}` : ""}`))));
    if (gate.blocking_reasons.length) {
      parts.push(el("h3", {}, "Blocking"), el("ul", {}, gate.blocking_reasons.map((r) => el("li", { class: "error" }, r))));
    }
  }
  if (checklist.length) {
    parts.push(el("h3", {}, "Done definitions"), el("ul", {}, checklist.map((c) =>
      el("li", {}, `${c.ticked ? "☑" : "☐"} ${c.text}${c.evidence ? ` — ${c.evidence}` : ""}`))));
  }
  return parts;
}

function artifactButton(artifact) {
  if (!artifact.has_text) return artifact.path;
  return el("button", { type: "button", class: "link", onclick: async () => {
    const data = await api(`/api/ui/tickets/${ticketId}/artifacts/${artifact.id}`);
    const viewer = document.getElementById("artifact-view");
    viewer.replaceChildren(el("h3", {}, data.path), el("pre", {}, data.text + (data.truncated ? "\n…" : "")));
    viewer.hidden = false;
  } }, artifact.path);
}

// An agent's open question, with the form a person answers it by (the task then resumes with the answer).
function questionView(q) {
  const fieldId = `answer-text-${q.task_id}`;
  const form = el("form", { class: "answer", id: `answer-${q.task_id}`, onsubmit: async (event) => {
    event.preventDefault();
    const answer = event.target.elements.answer.value.trim();
    if (!answer) { say("Write an answer first."); return; }
    try {
      const done = await api(`/api/tasks/${q.task_id}/answer`, { method: "POST", body: { answer } });
      say(done.message, "ok");
    } catch (error) {
      say(`Could not answer: ${error.message}`);
    }
    refresh();
  } },
    el("label", { for: fieldId }, "Your answer"),
    el("textarea", { id: fieldId, name: "answer", rows: "3", required: true }),
    q.options.length ? el("p", { class: "options" }, "Options: ", q.options.map((o) =>
      el("button", { type: "button", class: "link", onclick: () => { document.getElementById(fieldId).value = o; } }, o))) : "",
    el("button", { type: "submit" }, "Send answer"));
  return el("article", { class: "question", dataset: { taskId: q.task_id } },
    el("p", {}, `Task #${q.task_id} (${q.phase_id}) asks, ${when(q.asked_at)}:`),
    el("blockquote", {}, q.question), form);
}

// The ticket's merge-queue entries (newest first): waiting with its place, or how it ended and why.
function mergeState(e) {
  if (e.status === "queued") return `queued, ${e.position === 1 ? "next" : `number ${e.position}`} to be tested`;
  if (e.status === "testing") return "testing the merged result";
  if (e.status === "landed") return `landed on ${e.into} as ${(e.landed_commit || "").slice(0, 12)}`;
  return `rejected: ${e.reason}`;
}

function mergeDetail(e) {
  if (e.conflicts.length) return `conflicts: ${e.conflicts.join(", ")}`;
  if (e.failed_check.length) return el("code", {}, e.failed_check.join(" "));
  return "";
}

function render(page) {
  const t = page.ticket;
  document.title = `#${t.id} ${t.title} · phaseloom`;
  root.replaceChildren(
    el("h1", {}, `#${t.id} ${t.title} `, el("span", {}, `· ${t.phase_name} · ${t.priority}`)),
    el("p", {}, el("a", { href: `/graph?ticket=${t.id}` }, "Workflow graph of this ticket")),
    t.description ? el("p", {}, t.description) : "",
    t.blocked_reason ? el("p", { class: "error" }, `Blocked: ${t.blocked_reason}`) : "",
    (page.questions || []).length ? section("Needs input", "h-needs-input", ...page.questions.map(questionView)) : "",
    section("Phase history", "h-history", el("ol", { class: "timeline" }, page.history.map((h) =>
      el("li", {}, el("strong", {}, h.to_phase), h.from_phase ? ` from ${h.from_phase}` : "",
        ` · ${when(h.at)} · by ${h.initiated_by}${h.forced ? " (forced)" : ""}${h.reason ? ` — ${h.reason}` : ""}`)))),
    section("Current gate", "h-gate", ...gateView(page.gate, page.done_definitions)),
    section("Tasks", "h-tasks", table("Tasks", ["Task", "Phase", "Status", "Agent", "Log"], page.tasks.map((k) => [
      `#${k.id} ${k.title}`, k.phase_id,
      el("span", {}, el("span", { "data-task-status": k.id }, k.status),
        k.waits_for ? el("small", { class: "waits", "data-task-waits": k.id }, ` · ${k.waits_for}`) : ""),
      k.agent || "",
      k.error ? el("pre", { class: "error" }, k.error) : k.log ? el("pre", {}, k.log) : ""]))),
    (page.merge_queue || []).length ? section("Merge queue", "h-merge-queue", table("Merge queue entries",
      ["Entry", "State", "Branch", "Tests run", "Detail", "Task", "Updated"], page.merge_queue.map((e) => [
        `#${e.id}`, el("span", { class: e.status === "rejected" ? "error" : "", "data-merge-status": e.status }, mergeState(e)),
        `${e.branch} → ${e.into} (${e.strategy})`, String(e.attempts), mergeDetail(e),
        e.task_id ? `#${e.task_id}` : "", when(e.at)]))) : "",
    section("Snapshots", "h-snapshots", table("Snapshots", ["Task", "N", "When", "Reason", "Files", "Commit", "Restore with"],
      (page.snapshots || []).map((s) => [`#${s.task_id}`, String(s.n), when(s.at), s.reason, String(s.files),
        s.commit.slice(0, 12), el("code", {}, `phaseloom task restore ${s.task_id} ${s.n}`)]))),
    section("Discoveries", "h-discoveries", table("Discoveries", ["Type", "Description", "From", "Spawned in", "Status"],
      page.discoveries.map((d) => [d.type, d.description, d.source_phase_id || "", d.spawn_phase_id || "", d.status]))),
    section("Validation reviews", "h-reviews", table("Reviews", ["Task", "Iteration", "State", "Feedback", "Validator"],
      page.reviews.map((r) => [r.task_id ? `#${r.task_id}` : "", String(r.iteration), r.state, r.feedback, r.validator || ""]))),
    section("Costs", "h-costs", page.costs.length ? table("Costs", ["Phase", "Model", "Tokens in / out", "Amount"],
      page.costs.map((c) => [c.phase_id, c.model, `${c.input_tokens} / ${c.output_tokens}`,
        `${c.amount.toFixed(4)} ${c.currency}`])) : el("p", {}, "No model calls recorded for this ticket.")),
    section("Guardian", "h-guardian", table("Guardian assessments", ["When", "Task", "Agent", "Score", "Judge", "Intervention", "Reasons"],
      (page.guardian || []).map((g) => [when(g.at), `#${g.task_id}`, g.agent_id, g.score.toFixed(2), g.judge,
        g.intervention, el("ul", {}, g.reasons.map((r) => el("li", {}, r)))]))),
    section("Artifacts", "h-artifacts", table("Artifacts", ["Path", "Phase", "Type", "Size"],
      page.artifacts.map((a) => [artifactButton(a), a.phase_id, a.type, `${a.size} B`])),
      el("div", { id: "artifact-view", hidden: true })));
  root.dataset.loaded = "true";
}

const refresh = coalesce(async () => render(await api(`/api/ui/tickets/${ticketId}`)), 150);

if (!ticketId) say("No ticket given: open this page from the board.");
else {
  refresh();
  live({ filter: { ticket_id: ticketId }, onEvent: refresh, onReady: ({ first }) => { if (!first) refresh(); } });
}
