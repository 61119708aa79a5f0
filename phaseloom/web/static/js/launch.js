// The launch form of a workflow, built from its launch template (GET /api/launches/NAME):
// one field per parameter, by type; submitting creates the ticket and its first task.

import { api, el, params, rememberProject, say } from "./api.js";
import { staticPage } from "./live.js";

staticPage("a form: nothing on it changes by itself");

const root = document.getElementById("launch");

function field(parameter) {
  const id = `param-${parameter.name}`;
  const common = { id, name: parameter.name, required: parameter.required && parameter.default === null,
                   "aria-describedby": `${id}-help ${id}-error` };
  let input;
  if (parameter.type === "textarea") {
    input = el("textarea", { ...common, rows: 5 }, parameter.default ?? "");
  } else if (parameter.type === "dropdown") {
    input = el("select", common,
      parameter.required ? "" : el("option", { value: "" }, "—"),
      parameter.options.map((option) => el("option", { value: option, selected: option === parameter.default }, option)));
  } else if (parameter.type === "boolean") {
    input = el("input", { ...common, type: "checkbox", required: false, checked: parameter.default === true });
  } else {
    input = el("input", { ...common, type: parameter.type === "number" ? "number" : "text", step: "any",
                          value: parameter.default ?? "" });
  }
  return el("div", { class: "field", dataset: { parameter: parameter.name } },
    el("label", { for: id }, parameter.label || parameter.name, parameter.required ? " *" : ""), input,
    el("p", { id: `${id}-help`, class: "help" }, parameter.description),
    el("p", { id: `${id}-error`, class: "error", role: "status" }));
}

function values(form, parameters) {
  const given = {};
  for (const parameter of parameters) {
    const input = form.elements[parameter.name];
    if (parameter.type === "boolean") given[parameter.name] = input.checked;
    else if (input.value !== "") given[parameter.name] = input.value;
  }
  return given;
}

function showProblems(form, problems) {
  for (const node of form.querySelectorAll(".field .error")) node.textContent = "";
  for (const problem of problems) {
    const box = form.querySelector(`.field[data-parameter="${CSS.escape(problem.field)}"] .error`);
    if (box) box.textContent = problem.message;
  }
}

async function main() {
  const workflow = params().get("workflow") || "";
  document.getElementById("launch-workflow").textContent = workflow;
  if (!workflow) {
    root.replaceChildren(el("p", {}, "Give the workflow in the address: /launch?workflow=NAME"));
    return;
  }
  const template = await api(`/api/launches/${encodeURIComponent(workflow)}`);
  const form = el("form", { id: "launch-form", novalidate: true },
    el("div", { class: "field" }, el("label", { for: "launch-project" }, "Project *"),
      el("input", { id: "launch-project", name: "project", required: true, value: params().get("project") || "" })),
    template.parameters.map(field),
    el("button", { type: "submit" }, "Launch"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = { workflow, project: form.elements.project.value.trim(),
                     params: values(form, template.parameters) };
      const made = await api("/api/launches", { method: "POST", body });
      showProblems(form, []);
      rememberProject(body.project);
      say(`Ticket ${made.ticket.id} created in ${made.ticket.phase_id}, first task ${made.task_id}.`, "ok");
      root.dataset.launchedTicket = made.ticket.id;
    } catch (error) {
      showProblems(form, (error.details && error.details.problems) || []);
      say(error.message);
    }
  });
  root.replaceChildren(form);
  root.dataset.loaded = "";
}

main().catch((error) => say(error.message));
