// The reference rate on the dashboard (docs/reference-rate.md): the top-assets table's "rate"
// and "vs rate" columns (each naming the sources it compares), the asset view's value, band
// and every input, and the stablecoins off their peg. Uses dashboard.js's helpers.
"use strict";

// The newest value, with its inputs (asked only when there is one: a 404 is not an error here).
async function rateOf(assetId) {
  const newest = (await api("/api/v1/rates", { asset_id: assetId, order: "desc", limit: 1 })).data;
  return newest.length ? (await api(`/api/v1/assets/${assetId}/rate`)).data : null;
}

function rateTitle(rate) {
  if (!rate) return "no reference rate: it needs quotes from two venues (or two sources as a fallback)";
  const flags = [rate.fallback ? "fallback: too few venues, the aggregators were inputs" : null,
    rate.depeg ? "DEPEG: more than 0.5 % off its peg" : null].filter(Boolean);
  return [`reference rate ${rate.value} (band ${rate.low} – ${rate.high})`,
    `${rate.n_inputs} inputs, bucket ${rate.bucket_start.slice(0, 16)}Z, method ${rate.method_version}`,
    ...flags].join("\n");
}

async function addRates(top) {
  const head = document.querySelector("#top thead tr");
  head.append(
    el("th", { class: "num", title: "The reference rate: the venues' volume-weighted median in USD" }, "rate"),
    el("th", { class: "num", title: `The largest gap between the reference rate and the current ${sourceList(top.sources)} quotes` }, "vs rate"));
  const rates = await Promise.all(top.ranked.map((item) => rateOf(item.asset.id)));
  document.querySelectorAll("#top tbody tr").forEach((row, i) => {
    const item = top.ranked[i];
    const rate = rates[i];
    const value = rate ? Number(rate.value) : null;
    // Only quotes of the rate's time: a rate hours older than the quotes is no yardstick.
    const near = (q) => rate && Math.abs(Date.parse(q.observed_at) - Date.parse(rate.bucket_start))
      <= top.current_window_s * 1000;
    const compared = value ? top.sources.filter((s) => item.quotes[s]?.current && near(item.quotes[s])) : [];
    const gaps = compared.map((s) => Math.abs(Number(item.quotes[s].price_usd) / value - 1) * 100);
    const gap = gaps.length ? Math.max(...gaps) : null;
    row.append(
      el("td", { class: `num rate${rate?.depeg ? " depeg" : ""}`, "data-rate": rate?.value ?? "",
        "data-low": rate?.low ?? "", "data-high": rate?.high ?? "", title: rateTitle(rate) },
        rate ? price(rate.value) : "–"),
      el("td", { class: `num${gap !== null && gap > 1 ? " spread-high" : ""}`,
        "data-vs-rate": gap === null ? "" : gap.toFixed(3), "data-vs-rate-sources": compared.join(" "),
        title: gap === null ? "not computed: no rate, or no current quote within the quotes' window of the rate's bucket"
          : `compares the reference rate with the current ${sourceList(compared)} quotes` },
        gap === null ? "–" : `${gap.toFixed(2)} %`));
  });
  markReady("rates");
  await loadDepegs();
}

async function loadDepegs() {
  const data = (await api("/api/v1/divergences")).data;
  const list = document.getElementById("depegs");
  list.replaceChildren(...data.depegs.map((d) => el("li", { "data-asset-id": d.asset_id, class: "depeg" },
    `${d.symbol.toUpperCase()} at $${d.value} (${(Number(d.off_peg) * 100).toFixed(2)} % off its peg, bucket ${d.bucket_start.slice(0, 16)}Z)`)));
  const outside = data.inputs.filter((i) => i.reason === "outside_band").length;
  const atLeast = data.inputs_truncated ? "at least " : "";  // the API lists the first 500
  document.getElementById("divergence-note").textContent =
    `${data.depegs.length} stablecoin(s) more than 0.5 % off their peg; ${atLeast}${outside} input(s) outside the 2 % band` +
    ` and ${atLeast}${data.inputs.length - outside} stale or waiting to re-enter (GET /api/v1/divergences).`;
  document.getElementById("depeg-card").hidden = false;
  markReady("divergences");
}

async function showRate(assetId, title) {
  const card = document.getElementById("rate-card");
  const rate = await rateOf(assetId);
  card.hidden = false;
  document.getElementById("rate-title").textContent = `Reference rate · ${title}`;
  const summary = document.getElementById("rate-summary");
  Object.assign(summary.dataset, { assetId, value: rate?.value ?? "", low: rate?.low ?? "",
    high: rate?.high ?? "", depeg: String(Boolean(rate?.depeg)), nInputs: rate?.n_inputs ?? 0 });
  summary.textContent = rate
    ? `$${price(rate.value)} (band $${price(rate.low)} – $${price(rate.high)}) from ${rate.n_inputs} inputs` +
      `${rate.fallback ? ", fallback on the aggregators" : ""}${rate.depeg ? " · DEPEG: more than 0.5 % off its peg" : ""}` +
      ` · bucket ${rate.bucket_start.slice(0, 16)}Z · method ${rate.method_version}`
    : rateTitle(null);
  summary.classList.toggle("depeg", Boolean(rate?.depeg));
  const body = document.querySelector("#rate-inputs tbody");
  body.replaceChildren(...(rate?.inputs || []).map((i) => {
    const row = el("tr", { "data-source": i.source, "data-included": String(i.included),
      "data-reason": i.reason ?? "", "data-price-usd": i.price_usd ?? "", "data-weight": i.weight,
      "data-partition": i.partition, class: i.included ? "" : "excluded" });
    row.append(el("td", {}, i.source), el("td", {}, i.market),
      el("td", { class: "num" }, `${price(i.price)} ${i.quote}`),
      el("td", { title: i.quote_usd ? `1 ${i.quote} = $${i.quote_usd}` : "" }, i.conversion),
      el("td", { class: "num" }, price(i.price_usd)), el("td", { class: "num" }, price(i.weight)),
      el("td", {}, i.included ? "included" : i.reason));
    return row;
  }));
  markReady("rate");
}
