// Search (semantic / exact / hybrid with filters) and browse (pages, type facets).
import { h, clear, formatTime, snippet, parseTags, tagChips } from "./dom.js";

function resultRow(app, memory, score) {
  return h("li", { class: "result" },
    h("button", { type: "button", class: "rowbutton", onclick: () => app.detail.open(memory.content_hash) },
      score === undefined ? null : h("span", { class: "score", title: "relevance" }, score.toFixed(3)),
      h("span", { class: "text" }, snippet(memory.content, 240)),
      h("span", { class: "meta" }, memory.memory_type, " · ", formatTime(memory.created_at)),
      tagChips(memory.tags, (tag) => app.browse.byTag(tag))));
}

export class Search {
  constructor(app) {
    this.app = app;
    this.form = document.getElementById("search-form");
    this.results = document.getElementById("search-results");
    this.summary = document.getElementById("search-summary");
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
  }

  async run() {
    const f = this.form.elements;
    const msg = {
      type: "search",
      query: f.query.value.trim() || null,
      mode: f.mode.value,
      limit: Number(f.limit.value),
      tags: parseTags(f.tags.value),
      tag_match: f.tag_match.value,
      memory_type: f.memory_type.value.trim() || null,
      time_expr: f.time_expr.value.trim() || null,
    };
    this.summary.textContent = "Searching…";
    try {
      const started = performance.now();
      const reply = await this.app.api.call(msg);
      const ms = performance.now() - started;
      clear(this.results).append(...reply.hits.map((hit) => resultRow(this.app, hit.memory, hit.score)));
      this.summary.textContent = `${reply.hits.length} result${reply.hits.length === 1 ? "" : "s"} (${reply.mode}, ${ms.toFixed(0)} ms)`;
    } catch (err) {
      clear(this.results);
      this.summary.textContent = err.message;
    }
  }
}

export class Browse {
  constructor(app) {
    this.app = app;
    this.list = document.getElementById("browse-list");
    this.summary = document.getElementById("browse-summary");
    this.facets = document.getElementById("browse-types");
    this.tagInput = document.getElementById("browse-tag");
    this.page = 1;
    this.type = null;
    document.getElementById("browse-prev").addEventListener("click", () => this.go(this.page - 1));
    document.getElementById("browse-next").addEventListener("click", () => this.go(this.page + 1));
    document.getElementById("browse-form").addEventListener("submit", (e) => { e.preventDefault(); this.go(1); });
  }

  byTag(tag) {
    this.tagInput.value = tag;
    this.type = null;
    this.app.show("browse");
    this.go(1);
  }

  setFacets(types) {
    const chip = (label, value, count) => h("button", {
      type: "button", class: "facet", "aria-pressed": String(this.type === value),
      onclick: () => { this.type = value; this.go(1); this.setFacets(types); },
    }, label, count === undefined ? null : h("span", { class: "count" }, String(count)));
    clear(this.facets).append(chip("all types", null),
      ...types.map((t) => chip(t.memory_type, t.memory_type, t.count)));
  }

  async go(page) {
    if (page < 1) return;
    const tags = parseTags(this.tagInput.value);
    try {
      const reply = await this.app.api.call({ type: "list", page, page_size: 20, tags, memory_type: this.type });
      this.page = reply.page;
      clear(this.list).append(...reply.memories.map((m) => resultRow(this.app, m)));
      this.summary.textContent = reply.total
        ? `page ${reply.page} of ${reply.total_pages} · ${reply.total} memories`
        : "no memories match";
      document.getElementById("browse-prev").disabled = reply.page <= 1;
      document.getElementById("browse-next").disabled = !reply.has_more;
    } catch (err) {
      this.summary.textContent = err.message;
    }
  }
}

// Delete by tag and/or time: always a dry run first, showing what would go, then a confirm.
export class BulkDelete {
  constructor(app) {
    this.app = app;
    this.form = document.getElementById("bulk-form");
    this.preview = document.getElementById("bulk-preview");
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
  }

  filters() {
    const f = this.form.elements;
    const msg = { type: "delete", tags: parseTags(f.tags.value), tag_match: f.tag_match.value };
    const days = Number(f.older_than_days.value);
    if (f.older_than_days.value && days > 0) msg.before = Date.now() / 1000 - days * 86400;
    return msg;
  }

  async run() {
    const msg = this.filters();
    clear(this.preview);
    if (!msg.tags.length && msg.before === undefined) {
      this.preview.append(h("p", { class: "error" }, "Give a tag or an age first."));
      return;
    }
    try {
      const dry = await this.app.api.call({ ...msg, dry_run: true });
      const hashes = dry.content_hashes;
      if (!hashes.length) { this.preview.append(h("p", {}, "Nothing matches.")); return; }
      const shown = await Promise.all(hashes.slice(0, 50).map((hash) =>
        this.app.api.call({ type: "get", content_hash: hash }).then((r) => snippet(r.memory.content, 120), () => hash)));
      const more = hashes.length > shown.length ? [`…and ${hashes.length - shown.length} more`] : [];
      const ok = await this.app.confirm(`Delete ${hashes.length} memor${hashes.length === 1 ? "y" : "ies"}?`,
        [...shown, ...more], `Delete ${hashes.length}`);
      if (!ok) { this.preview.append(h("p", {}, "Nothing was deleted.")); return; }
      const done = await this.app.api.call({ ...msg, dry_run: false });
      this.preview.append(h("p", { role: "status" }, `Deleted ${done.content_hashes.length} memories.`));
      this.app.refreshAggregates();
    } catch (err) {
      this.preview.append(h("p", { class: "error" }, err.message));
    }
  }
}

// Duplicate cleanup: the dry run lists what would go, then a confirm, as for bulk deletes.
export class Duplicates {
  constructor(app) {
    this.app = app;
    this.preview = document.getElementById("dupes-preview");
    document.getElementById("dupes-preview-button").addEventListener("click", () => this.run());
  }

  async run() {
    clear(this.preview);
    try {
      const dry = await this.app.api.call({ type: "cleanup_duplicates", dry_run: true });
      const hashes = dry.content_hashes;
      if (!hashes.length) {
        this.preview.append(h("p", { role: "status" }, "No duplicates: every memory's content is unique."));
        return;
      }
      const shown = hashes.slice(0, 50);
      const more = hashes.length > shown.length ? [`…and ${hashes.length - shown.length} more`] : [];
      const ok = await this.app.confirm(`Remove ${hashes.length} duplicate${hashes.length === 1 ? "" : "s"}?`,
        [...shown, ...more], `Remove ${hashes.length}`);
      if (!ok) { this.preview.append(h("p", {}, "Nothing was removed.")); return; }
      const done = await this.app.api.call({ type: "cleanup_duplicates", dry_run: false });
      this.preview.append(h("p", { role: "status" }, `Removed ${done.content_hashes.length} duplicates.`));
      this.app.refreshAggregates();
    } catch (err) {
      this.preview.append(h("p", { class: "error" }, err.message));
    }
  }
}
