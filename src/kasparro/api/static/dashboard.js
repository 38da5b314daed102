// Kasparro dashboard: reads the public API and draws it. No framework, no CDN: SVG by hand.
// What each chart shows is also written on its elements (data-*), so tests (and anyone
// curious) can check the drawing holds exactly the numbers the API returned.
"use strict";

const COLORS = { coingecko: "#5b8def", coinpaprika: "#c084fc", csv: "#34c38f" };
const STATUS_COLORS = { success: "#34c38f", partial: "#f1b44c", running: "#f1b44c",
  failed: "#f46a6a", crashed: "#f46a6a" };
const SVG = "http://www.w3.org/2000/svg";
const ready = new Set();

function markReady(part) {
  ready.add(part);
  document.body.dataset.ready = [...ready].sort().join(" ");
}

async function api(path, params) {
  const query = params ? "?" + new URLSearchParams(params) : "";
  const response = await fetch(path + query, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

const number = (text) => (text === null || text === undefined ? null : Number(text));
const color = (source) => COLORS[source] || "#8a96b2";

function ago(iso) {
  if (!iso) return "–";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function price(text) {
  const value = number(text);
  if (value === null) return "–";
  if (value >= 1) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return value.toPrecision(4);
}

// --- pipeline health -----------------------------------------------------------------------

async function loadHealth() {
  const stats = (await api("/api/v1/stats")).data;
  const body = document.querySelector("#health tbody");
  body.replaceChildren();
  for (const [name, s] of Object.entries(stats.sources)) {
    const last = s.last_run || {};
    const row = el("tr", {
      "data-source": name,
      "data-status": s.last_run_status || "",
      "data-loaded": last.loaded ?? "",
      "data-quarantined": s.quarantined_records,
    });
    const status = el("td");
    status.append(el("span", { class: `badge ${s.last_run_status || ""}` },
      s.running ? "running" : s.last_run_status || "never run"));
    row.append(
      el("td", {}, name),
      el("td", { title: s.last_run_at || "" }, ago(s.last_run_at)),
      status,
      el("td", { class: "num" }, s.last_duration_s === null ? "–" : `${s.last_duration_s} s`),
      el("td", { class: "num" }, last.loaded ?? "–"),
      el("td", { class: "num" }, last.unchanged ?? "–"),
      el("td", { class: "num" }, last.rejected ?? "–"),
      el("td", { class: "num" }, s.quarantined_records),
      el("td", { class: "num" }, s.drift_events),
      el("td", { class: "num" }, s.success_rate === null ? "–"
        : `${Math.round(s.success_rate * 100)} %`),
      el("td", { title: s.next_run_at || "" }, s.next_run_at ? `at ${s.next_run_at.slice(11, 19)}` : "–"),
    );
    body.append(row);
  }
  document.getElementById("health-updated").textContent =
    `${stats.total_records_processed.toLocaleString("en-US")} records processed`;
  markReady("health");
}

// --- run timeline --------------------------------------------------------------------------

async function loadTimeline() {
  const runs = (await api("/api/v1/runs", { limit: 100 })).data;
  const svg = document.getElementById("timeline");
  svg.replaceChildren();
  svg.dataset.runs = runs.length;
  const width = svg.clientWidth || 900;
  const lanes = [...new Set(runs.map((r) => r.source))].sort();
  const lane = 22;
  const height = Math.max(60, lanes.length * lane + 28);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.height = `${height}px`;
  if (!runs.length) {
    svg.append(el("svg:text", { x: 10, y: 30, class: "axis" }, "no runs yet"));
    markReady("timeline");
    return;
  }
  const starts = runs.map((r) => Date.parse(r.started_at));
  const ends = runs.map((r) => Date.parse(r.finished_at || r.heartbeat_at || r.started_at));
  const t0 = Math.min(...starts);
  const t1 = Math.max(...ends, t0 + 1000);
  const left = 150;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - 10);
  lanes.forEach((source, i) => {
    svg.append(el("svg:text", { x: 4, y: 18 + i * lane + 12, class: "axis" }, source));
    svg.append(el("svg:line", { x1: left, x2: width - 10, y1: 18 + i * lane + 8,
      y2: 18 + i * lane + 8, class: "grid" }));
  });
  runs.forEach((r, i) => {
    const y = 18 + lanes.indexOf(r.source) * lane;
    const rect = el("svg:rect", {
      x: x(starts[i]), y, height: 16, rx: 3,
      width: Math.max(3, x(ends[i]) - x(starts[i])),
      fill: STATUS_COLORS[r.status] || "#8a96b2",
      "data-run-id": r.id, "data-source": r.source, "data-status": r.status,
    });
    rect.append(el("svg:title", {},
      `run ${r.id} ${r.source} ${r.status}: ${r.loaded} loaded, ${r.rejected} rejected, ` +
      `${r.duration_s ?? "?"} s${r.error ? " — " + r.error : ""}`));
    svg.append(rect);
  });
  svg.append(el("svg:text", { x: left, y: height - 2, class: "axis" }, new Date(t0).toISOString().slice(0, 19) + "Z"));
  svg.append(el("svg:text", { x: width - 10, y: height - 2, class: "axis", "text-anchor": "end" },
    new Date(t1).toISOString().slice(0, 19) + "Z"));
  const legend = document.getElementById("timeline-legend");
  legend.replaceChildren(...["success", "partial", "failed"].map((s) => {
    const item = el("span");
    item.append(el("i", { style: `background:${STATUS_COLORS[s]}` }), s);
    return item;
  }));
  markReady("timeline");
}

// --- top assets and their cross-source spread ------------------------------------------------

async function loadTop() {
  const latest = (await api("/api/v1/data", {
    latest: "true", source: "coingecko", sort: "market_cap_rank", limit: 10,
  })).data;
  const body = document.querySelector("#top tbody");
  body.replaceChildren();
  const details = await Promise.all(latest.map((r) => api(`/api/v1/assets/${r.asset.id}`)));
  details.forEach(({ data: asset }, i) => {
    const quotes = asset.latest;
    const prices = Object.values(quotes).map((q) => number(q.price_usd)).filter((p) => p > 0);
    const spread = prices.length > 1 ? (Math.max(...prices) - Math.min(...prices)) / Math.min(...prices) : null;
    const row = el("tr", {
      "data-asset-id": asset.id,
      "data-spread": spread === null ? "" : spread.toFixed(6),
      tabindex: 0,
    });
    const cell = (source) => el("td", { class: "num", "data-price": quotes[source]?.price_usd ?? "" },
      price(quotes[source]?.price_usd));
    row.append(
      el("td", { class: "num" }, latest[i].market_cap_rank ?? "–"),
      el("td", {}, `${asset.symbol.toUpperCase()} · ${asset.name}`),
      cell("coingecko"),
      cell("coinpaprika"),
      el("td", { class: `num${spread !== null && spread > 0.01 ? " spread-high" : ""}` },
        spread === null ? "–" : `${(spread * 100).toFixed(2)} %`),
    );
    row.addEventListener("click", () => showAsset(asset.id, `${asset.symbol.toUpperCase()} · ${asset.name}`));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") row.click(); });
    body.append(row);
  });
  markReady("top");
  // Chart the first asset both APIs quote (the top rank can be a junk token: QUIRKS.md).
  const both = details.find(({ data }) => Object.keys(data.latest).length > 1) || details[0];
  const first = both?.data;
  if (first) await showAsset(first.id, `${first.symbol.toUpperCase()} · ${first.name}`);
}

// --- price chart ---------------------------------------------------------------------------

let current = null;

async function showAsset(assetId, title) {
  current = { assetId, title };
  document.querySelectorAll("#top tbody tr").forEach((tr) =>
    tr.classList.toggle("selected", Number(tr.dataset.assetId) === assetId));
  const interval = document.getElementById("chart-interval").value;
  const candles = (await api(`/api/v1/assets/${assetId}/history`, {
    interval, order: "asc", limit: 1000,
  })).data;
  drawChart(assetId, interval, title, candles);
}

function drawChart(assetId, interval, title, candles) {
  const svg = document.getElementById("chart");
  svg.replaceChildren();
  svg.dataset.assetId = assetId;
  svg.dataset.interval = interval;
  document.getElementById("chart-title").textContent = `Price history · ${title}`;
  document.getElementById("chart-empty").hidden = candles.length > 0;
  const width = svg.clientWidth || 700;
  const height = 300;
  const pad = { left: 70, right: 12, top: 10, bottom: 24 };
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const bySource = {};
  for (const c of candles) (bySource[c.source] ||= []).push(c);
  const times = candles.map((c) => Date.parse(c.bucket_start));
  const closes = candles.map((c) => number(c.close));
  if (!candles.length) {
    markReady("chart");
    return;
  }
  const [t0, t1] = [Math.min(...times), Math.max(...times, Math.min(...times) + 1)];
  const [lo, hi] = [Math.min(...closes), Math.max(...closes)];
  const span = hi - lo || Math.abs(hi) || 1;
  const x = (t) => pad.left + ((t - t0) / (t1 - t0 || 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - (lo - span * 0.05)) / (span * 1.1)) * (height - pad.top - pad.bottom);
  for (let i = 0; i <= 4; i++) {
    const v = lo - span * 0.05 + (span * 1.1 * i) / 4;
    svg.append(el("svg:line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("svg:text", { x: pad.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, price(v)));
  }
  svg.append(el("svg:text", { x: pad.left, y: height - 6, class: "axis" }, new Date(t0).toISOString().slice(0, 10)));
  svg.append(el("svg:text", { x: width - pad.right, y: height - 6, class: "axis", "text-anchor": "end" },
    new Date(t1).toISOString().slice(0, 10)));
  const legend = document.getElementById("chart-legend");
  legend.replaceChildren();
  for (const [source, series] of Object.entries(bySource)) {
    const points = series.map((c) => `${x(Date.parse(c.bucket_start)).toFixed(1)},${y(number(c.close)).toFixed(1)}`);
    svg.append(el("svg:polyline", {
      class: "series", fill: "none", stroke: color(source), "stroke-width": 2,
      points: points.join(" "),
      "data-source": source,
      "data-closes": JSON.stringify(series.map((c) => c.close)),
      "data-buckets": JSON.stringify(series.map((c) => c.bucket_start)),
    }));
    const item = el("span");
    item.append(el("i", { style: `background:${color(source)}` }), `${source} (${series.length})`);
    legend.append(item);
  }
  document.getElementById("chart-range").textContent =
    `${candles.length} buckets · ${new Date(t0).toISOString().slice(0, 10)} → ${new Date(t1).toISOString().slice(0, 10)}`;
  markReady("chart");
}

// --- search ----------------------------------------------------------------------------------

let searchTimer = null;

async function search(text) {
  const list = document.getElementById("search-results");
  const symbol = text.trim();
  if (!symbol) { list.hidden = true; return; }
  const found = (await api("/api/v1/assets", { symbol, limit: 10 })).data;
  list.replaceChildren(...found.map((asset) => {
    const item = el("li");
    const label = `${asset.symbol.toUpperCase()} · ${asset.name}`;
    const button = el("button", { type: "button", "data-asset-id": asset.id },
      `${label} — ${asset.mappings.map((m) => m.source).join(", ")}`);
    button.addEventListener("click", () => { list.hidden = true; showAsset(asset.id, label); });
    item.append(button);
    return item;
  }));
  if (!found.length) list.append(el("li", { class: "hint" }, "no asset with that symbol"));
  list.hidden = false;
  markReady("search");
}

function start() {
  const input = document.getElementById("search-input");
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(input.value).catch(console.error), 200);
  });
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    search(input.value).catch(console.error);
  });
  document.getElementById("chart-interval").addEventListener("change", () => {
    if (current) showAsset(current.assetId, current.title).catch(console.error);
  });
  const refresh = () => Promise.all([loadHealth(), loadTimeline()]).catch(console.error);
  refresh();
  loadTop().catch(console.error);
  setInterval(refresh, 30000);
}

start();
