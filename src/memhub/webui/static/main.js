// The memhub web UI: start-up (ticket -> session), tabs, dialogs, keyboard, theme.
import { Api, takeCredential } from "./api.js";
import { h, clear, parseTags } from "./dom.js";
import { Detail } from "./detail.js";
import { Feed } from "./feed.js";
import { Search, Browse, BulkDelete, Duplicates } from "./search.js";
import { Insights, Health } from "./stats.js";

const TABS = ["feed", "search", "browse", "insights", "health", "add"];
const HEALTH_EVERY_MS = 2000;

class App {
  constructor() {
    this.statusEl = document.getElementById("conn-status");
    this.api = new Api({ onEvent: (e) => this.onEvent(e), onStatus: (s, m) => this.onStatus(s, m) });
    this.detail = new Detail(this);
    this.feed = new Feed(this);
    this.search = new Search(this);
    this.browse = new Browse(this);
    this.bulk = new BulkDelete(this);
    this.duplicates = new Duplicates(this);
    this.insights = new Insights(this);
    this.health = new Health(this);
    this.aggregateTimer = null;
    for (const tab of TABS) {
      document.getElementById(`tab-${tab}`).addEventListener("click", () => this.show(tab));
    }
    document.getElementById("add-form").addEventListener("submit", (e) => { e.preventDefault(); this.addMemory(); });
    document.getElementById("theme-toggle").addEventListener("click", () => this.toggleTheme());
    document.addEventListener("keydown", (e) => this.onKey(e));
    const confirmDialog = document.getElementById("confirm");
    document.getElementById("confirm-ok").addEventListener("click", () => confirmDialog.close("ok"));
    document.getElementById("confirm-cancel").addEventListener("click", () => confirmDialog.close("cancel"));
  }

  async start() {
    const credential = takeCredential();
    if (!credential) {
      this.fatal("No ticket: open the web UI with `memhub ui` (it prints or opens a one-time link).");
      return;
    }
    try {
      await this.api.connect(credential);
    } catch (err) {
      this.fatal(err.message);
      return;
    }
    document.getElementById("db-path").textContent = this.api.welcome.store;
    await this.api.call({ type: "subscribe" });
    const recent = await this.api.call({ type: "list", page: 1, page_size: 20 });
    this.feed.showRecent(recent.memories);
    document.body.dataset.ready = "true";
    performance.mark("memhub-first-results");
    this.insights.refresh();
    this.browse.go(1);
    this.health.sample();
    setInterval(() => this.health.sample(), HEALTH_EVERY_MS);
  }

  onEvent(event) {
    this.feed.onEvent(event);
    this.refreshAggregates();
  }

  // Aggregates follow writes, at most once a second whatever the write rate.
  refreshAggregates() {
    if (this.aggregateTimer !== null) return;
    this.aggregateTimer = setTimeout(() => { this.aggregateTimer = null; this.insights.refresh(); }, 1000);
  }

  onStatus(status, message) {
    this.statusEl.textContent = message ? message : status;
    this.statusEl.dataset.state = status;
    if (status === "error") this.fatal(message);
  }

  fatal(message) {
    const banner = document.getElementById("fatal");
    banner.textContent = message;
    banner.hidden = false;
    this.statusEl.textContent = "not connected";
    this.statusEl.dataset.state = "error";
  }

  show(tab) {
    for (const name of TABS) {
      const selected = name === tab;
      document.getElementById(`tab-${name}`).setAttribute("aria-selected", String(selected));
      document.getElementById(`panel-${name}`).hidden = !selected;
    }
    if (tab === "insights") this.insights.refresh();
    if (tab === "health") this.health.sample();
  }

  onKey(e) {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement ||
      e.target instanceof HTMLSelectElement;
    if (typing || e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
    if (e.key === "/") { e.preventDefault(); this.show("search"); document.getElementById("search-query").focus(); return; }
    const index = Number(e.key) - 1;
    if (index >= 0 && index < TABS.length) { this.show(TABS[index]); document.getElementById(`tab-${TABS[index]}`).focus(); }
    if (e.key === "p") this.feed.togglePause();
    if (e.key === "t") this.toggleTheme();
  }

  toggleTheme() {
    const dark = document.documentElement.dataset.theme !== "dark";
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    localStorage.setItem("memhub.theme", dark ? "dark" : "light"); // a preference, not a secret
  }

  async addMemory() {
    const f = document.getElementById("add-form").elements;
    const out = document.getElementById("add-result");
    clear(out);
    try {
      const reply = await this.api.call({
        type: "store", content: f.content.value, tags: parseTags(f.tags.value),
        memory_type: f.memory_type.value.trim() || null,
      });
      out.append(h("p", { role: "status" }, "Stored ",
        h("button", { type: "button", class: "link", onclick: () => this.detail.open(reply.content_hash) }, reply.content_hash.slice(0, 12)),
        reply.warning ? ` (${reply.warning})` : ""));
      f.content.value = "";
    } catch (err) {
      out.append(h("p", { class: "error", role: "alert" }, err.message));
      if (err.code === "duplicate" && err.detail && err.detail.content_hash) {
        out.append(h("button", { type: "button", class: "link", onclick: () => this.detail.open(err.detail.content_hash) },
          "Open the memory it duplicates"));
      }
    }
  }

  toast(message) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.hidden = false;
    setTimeout(() => { el.hidden = true; }, 3000);
  }

  // A modal question with the items it concerns (as text); resolves true on confirm.
  confirm(title, items, action) {
    const dialog = document.getElementById("confirm");
    clear(document.getElementById("confirm-title")).append(title);
    clear(document.getElementById("confirm-items")).append(...items.map((item) => h("li", {}, item)));
    const button = document.getElementById("confirm-ok");
    button.textContent = action;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }
}

const saved = localStorage.getItem("memhub.theme");
document.documentElement.dataset.theme = saved || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
new App().start();
