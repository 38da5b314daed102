// Kasparro dashboard: reads the public API and draws it. No framework, no CDN: SVG by hand.
// What each chart shows is also written on its elements (data-*), so tests (and anyone
// curious) can check the drawing holds exactly the numbers the API returned.
"use strict";

// Sources, their colours and which are live market data come from the registry
// (GET /api/v1/sources): a plugin's source gets its column, colour and line like any other.
const COLORS = {};
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
  if (value >= 1) return value.toLocaleString("en-US", { maximumFractionDigits: value >= 100 ? 2 : 4 });
  return value.toPrecision(4);
}

// Axis labels: five significant digits at most (they only have to tell the grid lines apart).
const tick = (value) => (Math.abs(value) >= 1
  ? Number(value.toPrecision(5)).toLocaleString("en-US", { maximumFractionDigits: 4 })
  : Number(value.toPrecision(3)).toString());

// --- pipeline health -----------------------------------------------------------------------

async function loadHealth() {
  const stats = (await api("/api/v1/stats")).data;
  // Emulated data is labelled wherever it is shown (the store says so: see /health).
  document.body.dataset.mode = stats.mode;
  document.getElementById("mode-banner").hidden = stats.mode !== "demo";
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
  // Narrow screens: each lane's name above its bars instead of in a left column.
  const stacked = width < 500;
  const lane = stacked ? 32 : 22;
  const top = stacked ? 14 : 18;
  const height = Math.max(60, lanes.length * lane + top + 12);
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
  const left = stacked ? 4 : 150;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - 10);
  const barY = (i) => top + i * lane + (stacked ? 12 : 0);
  lanes.forEach((source, i) => {
    svg.append(el("svg:text", { x: 4, y: stacked ? top + i * lane + 6 : barY(i) + 12, class: "axis" }, source));
    svg.append(el("svg:line", { x1: left, x2: width - 10, y1: barY(i) + 8, y2: barY(i) + 8, class: "grid" }));
  });
  runs.forEach((r, i) => {
    const y = barY(lanes.indexOf(r.source));
    const rect = el("svg:rect", {
      x: x(starts[i]), y, height: stacked ? 12 : 16, rx: 3,
      width: Math.max(3, x(ends[i]) - x(starts[i])),
      fill: STATUS_COLORS[r.status] || "#8a96b2",
      "data-run-id": r.id, "data-source": r.source, "data-status": r.status,
    });
    rect.append(el("svg:title", {},
      `run ${r.id} ${r.source} ${r.status}: ${r.loaded} loaded, ${r.rejected} rejected, ` +
      `${r.duration_s ?? "?"} s${r.error ? " — " + r.error : ""}`));
    svg.append(rect);
  });
  const stamp = (t) => new Date(t).toISOString().slice(stacked ? 11 : 0, 19) + "Z";
  svg.append(el("svg:text", { x: left, y: height - 2, class: "axis" }, stamp(t0)));
  svg.append(el("svg:text", { x: width - 10, y: height - 2, class: "axis", "text-anchor": "end" }, stamp(t1)));
  const legend = document.getElementById("timeline-legend");
  legend.replaceChildren(...["success", "partial", "failed"].map((s) => {
    const item = el("span");
    item.append(el("i", { style: `background:${STATUS_COLORS[s]}` }), s);
    return item;
  }));
  markReady("timeline");
}

// --- top assets, their cross-source spread, and caps too implausible to rank -----------------

// The market APIs: shown side by side, compared by the spread, charted by default. Other
// sources of an asset (CSV files: the user's own snapshots) can be added to its chart.
let shownSources = [];

async function loadSources() {
  const declared = (await api("/api/v1/sources")).data;
  declared.providers.forEach((provider, i) => {
    const line = LINES[i % LINES.length];
    for (const name of [...provider.sources.map((s) => s.name), `${provider.name}_history`]) {
      COLORS[name] = provider.color;
      LINE_OF[name] = line;
    }
  });
  shownSources = declared.live_markets;
}

function sourceList(names) {
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names.join("");
}

function usd(text) {
  const value = number(text);
  if (value === null) return "–";
  for (const [scale, suffix] of [[1e12, " T"], [1e9, " B"], [1e6, " M"]]) {
    if (Math.abs(value) >= scale) return `$${(value / scale).toFixed(2)}${suffix}`;
  }
  return `$${price(text)}`;
}

function spreadTitle(spread) {
  const left = spread.excluded.map((e) => `${e.source}: ${e.reason}`);
  const head = spread.compared.length > 1
    ? `compares the current quotes of ${sourceList(spread.compared)}`
    : `not computed: ${spread.compared.length ? `only ${spread.compared[0]} has a current quote` : "no current quote"}`;
  return [head, ...left].join("\n");
}

async function loadTop() {
  const top = (await api("/api/v1/assets/top", { limit: 10 })).data;
  shownSources = top.sources;
  const minutes = Math.round(top.current_window_s / 60);
  document.getElementById("top-basis").textContent =
    `ranked by ${top.rank_by} market cap · spread between the current ${sourceList(top.sources)} quotes`;
  const head = document.querySelector("#top thead tr");
  head.replaceChildren(el("th", {}, "#"), el("th", {}, "asset"),
    ...top.sources.map((s) => el("th", { class: "num" }, s)),
    el("th", { class: "num", title: top.method.spread }, "spread"));
  const body = document.querySelector("#top tbody");
  body.replaceChildren();
  for (const item of top.ranked) {
    const asset = item.asset;
    const label = `${asset.symbol.toUpperCase()} · ${asset.name}`;
    const spread = item.spread;
    const row = el("tr", {
      "data-asset-id": asset.id,
      "data-rank": item.rank,
      "data-spread": spread.pct ?? "",
      "data-spread-sources": spread.compared.join(" "),
      tabindex: 0,
    });
    const cells = top.sources.map((source) => {
      const quote = item.quotes[source];
      const stale = quote && !quote.current;
      return el("td", {
        class: `num${stale ? " stale" : ""}`,
        "data-source": source,
        "data-price": quote?.price_usd ?? "",
        "data-current": quote ? String(quote.current) : "",
        title: quote ? `${source}: ${quote.price_usd} at ${quote.observed_at}${stale ? " (not current: not in the spread)" : ""}` : `no ${source} quote`,
      }, price(quote?.price_usd));
    });
    const pct = spread.pct === null ? null : Number(spread.pct);
    row.append(
      el("td", { class: "num" }, item.rank),
      el("td", { class: "asset", title: `${item.source_asset_id}: cap ${item.market_cap_usd} (${top.rank_by} rank ${item.upstream_rank ?? "–"})` }, label),
      ...cells,
      el("td", { class: `num spread${pct !== null && pct > 1 ? " spread-high" : ""}`, title: spreadTitle(spread) },
        pct === null ? "–" : `${spread.pct} %`),
    );
    row.addEventListener("click", () => showAsset(asset.id, label));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") row.click(); });
    body.append(row);
  }
  document.getElementById("top-note").textContent =
    `Quotes count as current within ${minutes} min of the freshest one (${top.rank_by}'s newest: ` +
    `${top.as_of ? top.as_of.slice(0, 19) + "Z" : "none"}). A spread's tooltip names the quotes it compares.`;
  const anomalies = document.getElementById("anomalies");
  anomalies.replaceChildren(...top.anomalies.map((a) => {
    const item = el("li", { "data-asset-id": a.asset.id, "data-codes": a.flags.map((f) => f.code).join(" ") });
    item.append(el("strong", {}, `${a.asset.symbol.toUpperCase()} · ${a.asset.name}`),
      ` — ${a.source} rank ${a.upstream_rank ?? "–"}, cap ${usd(a.market_cap_usd)} at $${price(a.price_usd)}: `,
      a.flags.map((f) => f.message).join("; "));
    return item;
  }));
  document.getElementById("anomalies-card").hidden = top.anomalies.length === 0;
  markReady("top"); addRates(top).catch(console.error);  // the rate columns: dashboard-rate.js
  // Chart the first asset whose spread compares two sources, else the first one.
  const first = top.ranked.find((r) => r.spread.compared.length > 1) || top.ranked[0];
  if (first) await showAsset(first.asset.id, `${first.asset.symbol.toUpperCase()} · ${first.asset.name}`);
  else markReady("chart");
}

// --- price chart -----------------------------------------------------------------------------

// The newest buckets are shown: this many per interval (a week of hours, a month of 4 h, a
// quarter of days, two years of weeks).
const WINDOW = { "1h": 168, "4h": 180, "1d": 90, "1w": 104 };
// Sources often agree to a fraction of a percent, so lines overlap: each has its own dash
// pattern, width and marker, the widest drawn first, so the lines under stay visible.
// Line styles, handed out to the providers in registry order.
const LINES = [
  { width: 4, dash: "", marker: "circle" },
  { width: 2, dash: "8 5", marker: "square" },
  { width: 2, dash: "2 3", marker: "diamond" },
  { width: 1.5, dash: "4 2 1 2", marker: "circle" },
];
const LINE_OF = {};
const SPARSE = 40;
const style = (source) => LINE_OF[source] || LINES[LINES.length - 1];

let current = null;

async function showAsset(assetId, title, extra) {
  const interval = document.getElementById("chart-interval").value;
  const previous = current && current.assetId === assetId ? current : null;
  current = { assetId, title, extra: extra || previous?.extra || [] };
  document.querySelectorAll("#top tbody tr").forEach((tr) =>
    tr.classList.toggle("selected", Number(tr.dataset.assetId) === assetId));
  const detail = (await api(`/api/v1/assets/${assetId}`)).data;
  const available = [...new Set([...shownSources, ...Object.keys(detail.latest)])];
  const sources = available.filter((s) => shownSources.includes(s) || current.extra.includes(s));
  const params = [["interval", interval], ["order", "desc"], ["limit", WINDOW[interval]],
    ...sources.map((s) => ["source", s])];
  const newestFirst = (await api(`/api/v1/assets/${assetId}/history`, params)).data;
  drawChart(assetId, interval, title, newestFirst.reverse(), sources, available);
  await showRate(assetId, title);  // dashboard-rate.js
}

function marker(kind, x, y, color) {
  if (kind === "square") return el("svg:rect", { x: x - 3, y: y - 3, width: 6, height: 6, fill: color });
  if (kind === "diamond") {
    return el("svg:polygon", { points: `${x},${y - 4} ${x + 4},${y} ${x},${y + 4} ${x - 4},${y}`, fill: color });
  }
  return el("svg:circle", { cx: x, cy: y, r: 3.5, fill: "none", stroke: color, "stroke-width": 1.5 });
}

function swatch(source) {
  const s = style(source);
  const svg = el("svg:svg", { width: 34, height: 10, class: "swatch" });
  svg.append(el("svg:line", { x1: 1, x2: 33, y1: 5, y2: 5, stroke: color(source),
    "stroke-width": Math.min(s.width, 3), "stroke-dasharray": s.dash || null }));
  return svg;
}

function drawChart(assetId, interval, title, candles, sources, available) {
  const svg = document.getElementById("chart");
  svg.replaceChildren();
  Object.assign(svg.dataset, { assetId, interval, sources: sources.join(" ") });
  document.getElementById("chart-title").textContent = `Price history · ${title}`;
  document.getElementById("chart-empty").hidden = candles.length > 0;
  const width = svg.clientWidth || 700;
  const narrow = width < 500;
  const height = narrow ? 240 : 300;
  const pad = { left: narrow ? 52 : 70, right: 12, top: 10, bottom: 24 };
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.height = `${height}px`;
  const bySource = Object.fromEntries(sources.map((s) => [s, []]));
  for (const c of candles) (bySource[c.source] ||= []).push(c);
  const legend = document.getElementById("chart-legend");
  legend.replaceChildren();
  for (const source of available) {
    const drawn = sources.includes(source);
    const series = bySource[source] || [];
    const item = el("label", { "data-source": source });
    const box = el("input", { type: "checkbox" });
    box.checked = drawn;
    box.disabled = shownSources.includes(source);  // the compared sources are always drawn
    box.addEventListener("change", () => {
      const extra = current.extra.filter((s) => s !== source);
      if (box.checked) extra.push(source);
      showAsset(assetId, title, extra).catch(console.error);
    });
    item.append(box, swatch(source),
      drawn ? `${source} (${series.length})` : `${source} (not drawn)`);
    legend.append(item);
  }
  if (!candles.length) {
    delete svg.dataset.xMin;
    delete svg.dataset.xMax;
    document.getElementById("chart-range").textContent = "no buckets";
    markReady("chart");
    return;
  }
  // The axes fit what is drawn: the window's own first and last bucket, its own price range.
  const times = candles.map((c) => Date.parse(c.bucket_start));
  const closes = candles.map((c) => number(c.close));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [lo, hi] = [Math.min(...closes), Math.max(...closes)];
  const span = hi - lo || Math.abs(hi) || 1;
  const x = (t) => pad.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - (lo - span * 0.05)) / (span * 1.1)) * (height - pad.top - pad.bottom);
  svg.dataset.xMin = new Date(t0).toISOString();
  svg.dataset.xMax = new Date(t1).toISOString();
  for (let i = 0; i <= 4; i++) {
    const v = lo - span * 0.05 + (span * 1.1 * i) / 4;
    svg.append(el("svg:line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("svg:text", { x: pad.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, tick(v)));
  }
  const day = (t) => new Date(t).toISOString().slice(0, interval === "1h" || interval === "4h" ? 16 : 10).replace("T", " ");
  svg.append(el("svg:text", { x: pad.left, y: height - 6, class: "axis" }, day(t0)));
  svg.append(el("svg:text", { x: width - pad.right, y: height - 6, class: "axis", "text-anchor": "end" }, day(t1)));
  const order = Object.keys(bySource).sort((a, b) => style(b).width - style(a).width);
  for (const source of order) {
    const series = bySource[source];
    if (!series.length) continue;
    const s = style(source);
    const xy = series.map((c) => [x(Date.parse(c.bucket_start)), y(number(c.close))]);
    const group = el("svg:g", { class: "series-group", "data-source": source });
    group.append(el("svg:polyline", {
      class: "series", fill: "none", stroke: color(source), "stroke-width": s.width,
      "stroke-dasharray": s.dash || null, "stroke-linejoin": "round",
      points: xy.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" "),
      "data-source": source,
      "data-closes": JSON.stringify(series.map((c) => c.close)),
      "data-buckets": JSON.stringify(series.map((c) => c.bucket_start)),
    }));
    // Markers where points are sparse (an hourly window over daily history): a lone bucket
    // is not a line; dense series are lines only, so the wider line under stays visible.
    if (series.length <= SPARSE) xy.forEach(([px, py]) => group.append(marker(s.marker, px, py, color(source))));
    svg.append(group);
  }
  document.getElementById("chart-range").textContent =
    `latest ${WINDOW[interval]} × ${interval}: ${day(t0)} → ${day(t1)}`;
  markReady("chart");
}

// --- search ----------------------------------------------------------------------------------

let searchTimer = null;
let searchSeq = 0;

function pick(asset) {
  document.getElementById("search-results").hidden = true;
  return showAsset(asset.id, `${asset.symbol.toUpperCase()} · ${asset.name}`, []);
}

async function search(text) {
  const list = document.getElementById("search-results");
  const q = text.trim();
  const seq = ++searchSeq;
  if (!q) { list.hidden = true; return []; }
  const found = (await api("/api/v1/assets/search", { q, limit: 10 })).data;
  if (seq !== searchSeq) return found;  // a newer keystroke's answer will draw the list
  list.replaceChildren(...found.map((asset) => {
    const item = el("li");
    const button = el("button", { type: "button", "data-asset-id": asset.id, "data-match": asset.match },
      `${asset.symbol.toUpperCase()} · ${asset.name}`);
    button.append(el("small", {}, asset.markets.length ? asset.markets.join(", ") : "no quotes"));
    button.addEventListener("click", () => pick(asset).catch(console.error));
    item.append(button);
    return item;
  }));
  if (!found.length) list.append(el("li", { class: "hint" }, "no asset starts with that"));
  list.hidden = false;
  markReady("search");
  return found;
}

function start() {
  const input = document.getElementById("search-input");
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(input.value).catch(console.error), 200);
  });
  // Enter picks the first match.
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(searchTimer);
    search(input.value).then((found) => (found.length ? pick(found[0]) : null)).catch(console.error);
  });
  document.getElementById("chart-interval").addEventListener("change", () => {
    if (current) showAsset(current.assetId, current.title, current.extra).catch(console.error);
  });
  const refresh = () => Promise.all([loadHealth(), loadTimeline()]).catch(console.error);
  refresh();
  loadSources().then(loadTop).catch(console.error);
  setInterval(refresh, 30000);
}

start();
