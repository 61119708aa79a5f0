// Live updates from the /ws WebSocket. After a reconnect it asks for the events it missed
// (`since` = the last event id seen), so nothing is lost while the connection was down.

import { token } from "./api.js";

// The header's indicator says the same thing on every page: "live" (updates arrive over /ws),
// "connecting…"/"reconnecting…", or "static" for a page that shows what it loaded and no more.
export function staticPage(reason = "this page does not update itself: reload it to see changes") {
  const status = document.getElementById("live-status");
  if (!status) return;
  status.textContent = "static";
  status.dataset.state = "static";
  status.title = reason;
}

export function live({ filter = {}, onEvent, onReady = () => {} }) {
  let lastId = null;
  let socket = null;
  let retry = 500;
  let stopped = false;
  const status = document.getElementById("live-status");
  const show = (text, state) => {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
    status.title = state === "live" ? "updates arrive as they happen" : "waiting for the live connection";
  };

  function url() {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
    if (lastId !== null) query.set("since", lastId);
    if (token()) query.set("token", token());
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws?${query}`;
  }

  function connect() {
    if (stopped) return;
    show("connecting…", "connecting");
    socket = new WebSocket(url());
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "event") {
        lastId = data.event.id;
        onEvent(data.event);
      } else if (data.type === "ready") {
        const first = lastId === null;
        lastId = Math.max(lastId || 0, data.last_id);
        retry = 500;
        show("live", "live");
        onReady({ first });
      } else if (data.type === "ping") {
        lastId = Math.max(lastId || 0, data.last_id);
      }
    });
    socket.addEventListener("close", () => {
      if (stopped) return;
      show("reconnecting…", "offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  connect();
  return {
    get lastId() { return lastId; },
    stop() { stopped = true; if (socket) socket.close(); },
  };
}
