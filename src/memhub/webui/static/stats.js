// Server-side aggregates (tag cloud, types, per day), connected clients and daemon health.
// Charts are small SVGs drawn here from the numbers; nothing is loaded from elsewhere.
import { h, svg, clear, formatBytes, formatTime } from "./dom.js";

const HISTORY = 150; // health samples kept: 5 minutes at one every 2 s

export class Insights {
  constructor(app) {
    this.app = app;
    this.cloud = document.getElementById("tag-cloud");
    this.types = document.getElementById("type-counts");
    this.days = document.getElementById("day-counts");
    this.typeOptions = document.getElementById("type-options");
  }

  async refresh() {
    const api = this.app.api;
    try {
      const [tags, types, days] = await Promise.all([
        api.call({ type: "count_tags", limit: 100 }),
        api.call({ type: "count_types" }),
        api.call({ type: "count_days", days: 30 }),
      ]);
      this.renderTags(tags);
      this.renderTypes(types.types);
      this.renderDays(days.days);
      this.app.browse.setFacets(types.types);
    } catch (err) {
      clear(this.cloud).append(h("p", { class: "error" }, err.message));
    }
  }

  renderTags(reply) {
    const max = Math.max(1, ...reply.tags.map((t) => t.count));
    const sorted = reply.tags.slice().sort((a, b) => a.tag.localeCompare(b.tag));
    clear(this.cloud).append(
      h("p", { class: "muted" }, `${reply.distinct} distinct tags; the ${reply.tags.length} most used:`),
      h("div", { class: "cloud" }, sorted.map((t) => {
        const chip = h("button", { type: "button", class: "cloud-tag", title: `${t.count} memories`,
          onclick: () => this.app.browse.byTag(t.tag) }, t.tag, h("span", { class: "count" }, String(t.count)));
        chip.style.fontSize = `${(0.8 + 1.0 * Math.log1p(t.count) / Math.log1p(max)).toFixed(2)}rem`;
        return chip;
      })));
  }

  renderTypes(types) {
    const max = Math.max(1, ...types.map((t) => t.count));
    clear(this.types).append(...types.map((t) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${(100 * t.count / max).toFixed(1)}%`;
      return h("li", {}, h("span", { class: "label" }, t.memory_type), h("span", { class: "track" }, bar),
        h("span", { class: "count" }, String(t.count)));
    }));
    clear(this.typeOptions).append(...types.map((t) => h("option", { value: t.memory_type })));
  }

  renderDays(days) {
    clear(this.days).append(barChart(days.map((d) => [d.day, d.count]), "memories created per day"));
  }
}

function barChart(points, label) {
  const width = 600, height = 120, pad = 18;
  const max = Math.max(1, ...points.map((p) => p[1]));
  const step = points.length ? (width - 2 * pad) / points.length : 0;
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label },
    svg("title", {}, label),
    points.map(([name, value], i) => {
      const barHeight = (height - 2 * pad) * value / max;
      return svg("rect", { x: pad + i * step + 1, y: height - pad - barHeight, width: Math.max(1, step - 2),
        height: barHeight, class: "bar" }, svg("title", {}, `${name}: ${value}`));
    }),
    points.length ? svg("text", { x: pad, y: height - 4, class: "axis" }, points[0][0]) : null,
    points.length > 1 ? svg("text", { x: width - pad, y: height - 4, class: "axis", "text-anchor": "end" }, points[points.length - 1][0]) : null,
    svg("text", { x: pad, y: 12, class: "axis" }, `max ${max}`));
}

function lineChart(values, label) {
  const width = 300, height = 70, pad = 6;
  const max = Math.max(1, ...values);
  const step = (width - 2 * pad) / Math.max(1, HISTORY - 1);
  const offset = HISTORY - values.length;
  const pts = values.map((v, i) => `${(pad + (offset + i) * step).toFixed(1)},${(height - pad - (height - 2 * pad) * v / max).toFixed(1)}`);
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart spark", role: "img", "aria-label": label },
    svg("title", {}, label),
    svg("polyline", { points: pts.join(" "), class: "line" }),
    svg("text", { x: pad, y: 12, class: "axis" }, `${label}: ${(values[values.length - 1] ?? 0).toFixed(1)} (max ${max.toFixed(1)})`));
}

export class Health {
  constructor(app) {
    this.app = app;
    this.facts = document.getElementById("health-facts");
    this.charts = document.getElementById("health-charts");
    this.clients = document.getElementById("clients-body");
    this.last = null;
    this.stores = [];
    this.searches = [];
  }

  async sample() {
    try {
      const [health, clients] = await Promise.all([
        this.app.api.call({ type: "health" }),
        this.app.api.call({ type: "list_clients" }),
      ]);
      const now = performance.now() / 1000;
      if (this.last) {
        const dt = Math.max(0.001, now - this.last.at);
        push(this.stores, (health.writer.writes - this.last.writes) / dt);
        push(this.searches, (health.readers.queries - this.last.queries) / dt);
      }
      this.last = { at: now, writes: health.writer.writes, queries: health.readers.queries };
      this.render(health, clients.clients);
    } catch (err) {
      clear(this.facts).append(h("p", { class: "error" }, err.message));
    }
  }

  render(health, clients) {
    const fact = (name, value) => [h("dt", {}, name), h("dd", {}, String(value))];
    clear(this.facts).append(
      ...fact("Status", `${health.status}: ${health.message}`),
      ...fact("Memories", `${health.total_memories} (${health.deleted_memories} deleted)`),
      ...fact("Store", `${health.store.engine} ${health.store.engine_version}, ${formatBytes(health.store.store_bytes)}` +
        (health.store.log_bytes ? ` + WAL ${formatBytes(health.store.log_bytes)}` : "")),
      ...fact("Writer", `${health.writer.batches} batches, ${health.writer.writes} writes, queue ${health.writer.queue_depth}, ${health.writer.busy_retries} busy retries`),
      ...fact("Embedder", `${health.embedder.name}, queue ${health.embedder.queue_depth}, ${health.embedder.texts} texts`),
      ...fact("Readers", `${health.readers.readers} readers, ${health.readers.queries} queries, mean ${health.readers.mean_query_ms.toFixed(1)} ms`),
      ...fact("Daemon", `memhub ${health.server_version} on ${health.machine}, pid ${health.pid}, up ${Math.round(health.uptime_s)} s, ${health.store.location}`));
    clear(this.charts).append(lineChart(this.stores, "writes/s"), lineChart(this.searches, "queries/s"));
    clear(this.clients).append(...clients.map((c) => h("tr", {},
      h("td", {}, c.name || "(unnamed)"), h("td", {}, c.kind), h("td", {}, formatTime(c.connected_at)),
      h("td", { class: "num" }, String(c.requests)), h("td", { class: "num" }, String(c.in_flight)))));
  }
}

function push(list, value) {
  list.push(Math.max(0, value));
  if (list.length > HISTORY) list.shift();
}
