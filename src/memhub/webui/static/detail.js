// The detail dialog: full content (as text), tags, type, metadata; edit tags/type; delete.
import { h, clear, formatTime, parseTags, tagChips } from "./dom.js";

export class Detail {
  constructor(app) {
    this.app = app;
    this.dialog = document.getElementById("detail");
    this.body = document.getElementById("detail-body");
    this.dialog.addEventListener("close", () => { this.hash = null; });
    this.hash = null;
  }

  async open(hash) {
    this.hash = hash;
    clear(this.body).append(h("p", { class: "muted" }, "Loading…"));
    if (!this.dialog.open) this.dialog.showModal();
    try {
      const reply = await this.app.api.call({ type: "get", content_hash: hash });
      if (this.hash === hash) this.render(reply.memory);
    } catch (err) {
      clear(this.body).append(h("p", { class: "error", role: "alert" }, err.message),
        h("button", { type: "button", onclick: () => this.dialog.close() }, "Close"));
    }
  }

  render(memory) {
    const tagsInput = h("input", { id: "edit-tags", value: memory.tags.join(", "), "aria-label": "Tags (comma-separated)" });
    const typeInput = h("input", { id: "edit-type", value: memory.memory_type, list: "type-options", "aria-label": "Type" });
    const status = h("p", { class: "status", role: "status" });
    const save = async (e) => {
      e.preventDefault();
      try {
        const reply = await this.app.api.call({
          type: "update", content_hash: memory.content_hash,
          tags: parseTags(tagsInput.value), memory_type: typeInput.value.trim() || null,
        });
        status.textContent = reply.fields.length ? `Saved (${reply.fields.join(", ")})` : "Nothing changed";
        this.app.refreshAggregates();
        const again = await this.app.api.call({ type: "get", content_hash: memory.content_hash });
        if (this.hash === memory.content_hash) { this.render(again.memory); this.body.querySelector(".status").textContent = status.textContent; }
      } catch (err) {
        status.textContent = err.message;
      }
    };
    const remove = async () => {
      const ok = await this.app.confirm(
        "Delete this memory?",
        [memory.content.length > 300 ? memory.content.slice(0, 300) + "…" : memory.content],
        "Delete");
      if (!ok) return;
      try {
        await this.app.api.call({ type: "delete", content_hash: memory.content_hash });
        this.dialog.close();
        this.app.toast("Memory deleted");
        this.app.refreshAggregates();
      } catch (err) {
        status.textContent = err.message;
      }
    };
    clear(this.body).append(
      h("pre", { class: "content", id: "detail-content" }, memory.content),
      h("dl", { class: "facts" },
        h("dt", {}, "Hash"), h("dd", { class: "mono" }, memory.content_hash),
        h("dt", {}, "Type"), h("dd", {}, memory.memory_type),
        h("dt", {}, "Tags"), h("dd", {}, tagChips(memory.tags)),
        h("dt", {}, "Created"), h("dd", {}, formatTime(memory.created_at)),
        h("dt", {}, "Updated"), h("dd", {}, formatTime(memory.updated_at)),
        h("dt", {}, "Metadata"), h("dd", {}, h("pre", { class: "mono small" }, JSON.stringify(memory.metadata, null, 2)))),
      h("form", { class: "edit", onsubmit: save },
        h("label", {}, "Tags ", tagsInput),
        h("label", {}, "Type ", typeInput),
        h("div", { class: "row" },
          h("button", { type: "submit", id: "save-memory" }, "Save"),
          h("button", { type: "button", class: "danger", id: "delete-memory", onclick: remove }, "Delete…"),
          h("button", { type: "button", onclick: () => this.dialog.close() }, "Close"))),
      status);
  }
}
