// Registered agents: status, health, current task, heartbeat age. Live from agent and task events.

import { age, api, coalesce, el, say } from "./api.js";
import { live } from "./live.js";

const body = document.querySelector("#agents tbody");

function render(agents) {
  if (!agents.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "6" }, "No agents registered.")));
    return;
  }
  body.replaceChildren(...agents.map((a) => el("tr", { dataset: { agentId: a.id } },
    el("th", { scope: "row" }, a.name, a.name !== a.id ? ` (${a.id})` : ""),
    el("td", {}, a.status), el("td", {}, a.health + (a.last_error ? ` — ${a.last_error}` : "")),
    el("td", {}, a.current_task ? [el("a", { href: `/ticket?id=${a.current_task.ticket_id}` },
                                      `#${a.current_task.id} ${a.current_task.title}`),
                                   a.current_task.activity ? el("div", { class: "activity" },
                                                                a.current_task.activity) : ""] : "idle"),
    el("td", {}, age(a.heartbeat_age_seconds)), el("td", {}, `${a.runtime} · capacity ${a.capacity}`))));
}

const refresh = coalesce(async () => render(await api("/api/ui/agents")), 200);
refresh();
setInterval(refresh, 15000);  // heartbeat ages grow without events
live({ filter: {}, onEvent: (event) => { if (/^(agent|task)\./.test(event.event_type)) refresh(); },
       onReady: ({ first }) => { if (!first) refresh(); } });
say("");
