// The live feed: every committed write from every client, newest first, at most MAX_ROWS rows.
import { h, clear, formatTime, snippet, tagChips } from "./dom.js";

const MAX_ROWS = 500;
const MAX_SEEN = 5000;
export const FOREIGN_CLIENT = "another process";

export class Feed {
  constructor(app) {
    this.app = app;
    this.list = document.getElementById("feed-list");
    this.clientFilter = document.getElementById("feed-client");
    this.pauseButton = document.getElementById("feed-pause");
    this.pendingNote = document.getElementById("feed-pending");
    this.paused = false;
    this.held = [];
    this.clients = new Set();
    this.seen = new Set(); // hashes already shown: a polled row is new only if not among them
    this.newest = 0; // created_at of the newest memory shown
    this.pauseButton.addEventListener("click", () => this.togglePause());
    this.clientFilter.addEventListener("change", () => this.applyFilter());
  }

  // The newest memories, shown before the first live write arrives.
  showRecent(memories) {
    for (const memory of memories.slice().reverse()) {
      this.add({ kind: "recent", content_hash: memory.content_hash, memory, client: "" }, memory.created_at);
    }
  }

  onEvent(event) {
    this.remember(event);
    if (this.paused) {
      this.held.push([event, Date.now() / 1000]);
      if (this.held.length > MAX_ROWS) this.held.shift();
      this.pendingNote.textContent = `${this.held.length} new while paused`;
      return;
    }
    this.add(event, Date.now() / 1000);
  }

  remember(event) {
    this.seen.add(event.content_hash);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value);
    if (event.memory) this.newest = Math.max(this.newest, event.memory.created_at);
  }

  add(event, when) {
    this.remember(event);
    // The daemon reports rows another program (a legacy server) wrote into the file too, with
    // no client and no machine; a daemon's own writes always name the machine.
    const client = event.client || (event.kind === "recent" ? "" : event.origin ? "unnamed client" : FOREIGN_CLIENT);
    if (client && !this.clients.has(client)) {
      this.clients.add(client);
      this.clientFilter.append(h("option", { value: client }, client));
    }
    const memory = event.memory;
    const row = h("li", { class: `feed-row kind-${event.kind}`, dataset: { client, hash: event.content_hash } },
      h("button", { type: "button", class: "rowbutton", onclick: () => this.app.detail.open(event.content_hash),
          disabled: event.kind === "deleted" },
        h("span", { class: "when" }, formatTime(when)),
        h("span", { class: `badge ${event.kind}` }, event.kind),
        h("span", { class: "client" }, client),
        h("span", { class: "text" }, memory ? snippet(memory.content) : event.content_hash.slice(0, 12) + "…"),
        memory ? tagChips(memory.tags) : null));
    this.list.prepend(row);
    this.hideIfFiltered(row);
    while (this.list.childElementCount > MAX_ROWS) this.list.lastElementChild.remove();
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    if (!this.paused) {
      for (const [event, when] of this.held) this.add(event, when);
      this.held = [];
      this.pendingNote.textContent = "";
    }
  }

  hideIfFiltered(row) {
    const wanted = this.clientFilter.value;
    row.hidden = wanted !== "" && row.dataset.client !== wanted;
  }

  applyFilter() {
    for (const row of this.list.children) this.hideIfFiltered(row);
  }
}
