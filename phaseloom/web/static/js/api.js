// Talking to the phaseloom API: the bearer token, JSON requests, errors in words, small DOM helpers.
//
// The token lives in sessionStorage (gone when the tab closes). A link of the form
// /#token=<admin token> hands one over: the fragment never reaches the server or its logs,
// and it is removed from the address bar at once.

const TOKEN_KEY = "phaseloom.token";
const PROJECT_KEY = "phaseloom.project";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed with HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error;
  }
}

function takeTokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}
takeTokenFromFragment();

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (response.status === 401) {
    await askForToken(data && data.error ? data.error.message : "");
    return api(path, { method, body });
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

let pendingLogin = null;

// A modal form asking for the admin token; resolves once one is entered.
function askForToken(reason) {
  if (pendingLogin) return pendingLogin;
  pendingLogin = new Promise((resolve) => {
    const input = el("input", { id: "login-token", type: "password", autocomplete: "off", required: true });
    const form = el("form", { method: "dialog", class: "login" },
      el("h2", {}, "Sign in"),
      el("p", {}, "Paste an admin token (", el("code", {}, "phaseloom token create-admin"), " prints one)."),
      reason ? el("p", { class: "error" }, reason) : "",
      el("label", { for: "login-token" }, "Admin token"), input,
      el("button", { type: "submit" }, "Sign in"));
    const dialog = el("dialog", { "aria-labelledby": "login-title" }, form);
    form.querySelector("h2").id = "login-title";
    form.addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      dialog.remove();
      pendingLogin = null;
      resolve();
    });
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
  });
  return pendingLogin;
}

// el("a", {href: "/x", class: "y"}, "text", child) — text is always set as text, never parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === "") continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function say(message, kind = "error") {
  const notice = document.getElementById("notice");
  if (!notice) return;
  notice.textContent = message;
  notice.className = `notice ${kind}`;
  notice.hidden = !message;
}

export function params() {
  return new URLSearchParams(location.search);
}

// The project in the address bar, else the one chosen last, else the first one there is.
export async function currentProject() {
  const projects = (await api("/api/projects?limit=500")).items;
  const wanted = params().get("project") || localStorage.getItem(PROJECT_KEY);
  const project = projects.find((p) => p.name === wanted || String(p.id) === wanted) || projects[0] || null;
  if (project) rememberProject(project.name);
  return { projects, project };
}

export function rememberProject(name) {
  localStorage.setItem(PROJECT_KEY, name);
  for (const link of document.querySelectorAll("nav a[data-project-link]")) {
    link.href = `${link.dataset.projectLink}?project=${encodeURIComponent(name)}`;
  }
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function when(isoText) {
  return isoText ? new Date(isoText).toLocaleString() : "";
}

// Run fn at most once per `ms`, trailing: bursts of events cause one refresh.
export function coalesce(fn, ms = 150) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } catch (error) { say(error.message); } finally {
      running = false;
      if (again) { again = false; schedule(); }
    }
  };
  const schedule = () => { if (!timer) timer = setTimeout(run, ms); };
  return schedule;
}
