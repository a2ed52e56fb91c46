// The analytics dashboard's charts: each <canvas data-chart="..."> fetches its report from the API.
(function () {
  "use strict";
  const palette = ["#4f46e5", "#0ea5e9", "#15803d", "#b45309", "#b91c1c", "#7c3aed"];
  const money = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  async function report(name, query) {
    const response = await fetch("/api/v1/analytics/" + name + "?" + query, { credentials: "same-origin" });
    if (!response.ok) throw new Error(name + ": " + response.status);
    return response.json();
  }

  function draw(canvas, config) {
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    canvas.parentElement.style.height = "300px";
    return new Chart(canvas, config);
  }

  async function fetched(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  const charts = {
    async calibration(canvas) {
      const model = await fetched(canvas.dataset.url);
      const points = model.calibration.map(function (bin) { return { x: Math.round(bin[0] * 1000) / 10, y: Math.round(bin[1] * 1000) / 10 }; });
      const top = Math.max(10, Math.ceil(Math.max.apply(null, points.map(function (p) { return Math.max(p.x, p.y); })) / 10) * 10);
      draw(canvas, { type: "scatter", data: { datasets: [
        { label: "Held-out leads (each point a tenth of them)", data: points, backgroundColor: palette[0], borderColor: palette[0], showLine: true, pointRadius: 4 },
        { label: "Perfect calibration", data: [{ x: 0, y: 0 }, { x: top, y: top }], borderColor: "#9ca3af", borderDash: [4, 4], showLine: true, pointRadius: 0 }] },
        options: { scales: { x: { min: 0, max: top, title: { display: true, text: "Predicted %" } }, y: { min: 0, max: top, title: { display: true, text: "Converted %" } } } } });
    },
    async importance(canvas) {
      const rows = (await fetched(canvas.dataset.url)).importance.slice(0, 12);
      draw(canvas, { type: "bar", data: { labels: rows.map(function (r) { return r[0]; }), datasets: [
        { label: "Share of gain %", data: rows.map(function (r) { return Math.round(r[1] * 1000) / 10; }), backgroundColor: palette[2] }] },
        options: { indexAxis: "y", plugins: { legend: { display: false } } } });
    },
    async funnel(canvas, query) {
      const rows = await report("funnel", query);
      const all = rows[0] || { lead: 0, prospect: 0, opportunity: 0, customer: 0 };
      draw(canvas, { type: "bar", data: { labels: ["Lead", "Prospect", "Opportunity", "Customer"],
        datasets: [{ label: "Leads reaching the stage", data: [all.lead, all.prospect, all.opportunity, all.customer],
          backgroundColor: palette }] }, options: { indexAxis: "y", plugins: { legend: { display: false } } } });
    },
    async pipeline(canvas, query) {
      const rows = (await report("pipeline", query)).filter(function (row) { return !row.is_closed; });
      const amounts = canvas.dataset.amounts === "true";
      const datasets = amounts
        ? [{ label: "Value", data: rows.map(function (r) { return r.value; }), backgroundColor: palette[0] },
           { label: "Weighted by probability", data: rows.map(function (r) { return r.weighted_value; }), backgroundColor: palette[1] }]
        : [{ label: "Deals", data: rows.map(function (r) { return r.count; }), backgroundColor: palette[0] }];
      draw(canvas, { type: "bar", data: { labels: rows.map(function (r) { return r.stage + " (" + r.count + ")"; }), datasets: datasets },
        options: { scales: { y: { ticks: { callback: function (v) { return money.format(v); } } } } } });
    },
    async forecast(canvas, query) {
      const rows = await report("forecast", query);
      draw(canvas, { type: "bar", data: { labels: rows.map(function (r) { return r.month; }), datasets: [
        { label: "Weighted by stage probability", data: rows.map(function (r) { return r.weighted_by_stage; }), backgroundColor: palette[0] },
        { label: "Weighted by learned win rates", data: rows.map(function (r) { return r.weighted_by_history; }), backgroundColor: palette[2] },
        { label: "Commit (≥ 70%)", data: rows.map(function (r) { return r.commit; }), backgroundColor: palette[3] }] },
        options: { scales: { y: { ticks: { callback: function (v) { return money.format(v); } } } } } });
    },
    async sources(canvas, query) {
      const kpis = await report("kpis", query);
      const names = Object.keys(kpis.by_source);
      const pct = function (key) { return names.map(function (n) { return Math.round((kpis.by_source[n][key] || 0) * 1000) / 10; }); };
      draw(canvas, { type: "bar", data: { labels: names.map(function (n) { return n.replace(/_/g, " "); }), datasets: [
        { label: "Win rate %", data: pct("win_rate"), backgroundColor: palette[2] },
        { label: "Lead → customer %", data: pct("lead_to_customer_rate"), backgroundColor: palette[0] }] } });
    },
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const build = charts[canvas.dataset.chart];
      build(canvas, canvas.dataset.query || "").then(function () { canvas.dataset.ready = "true"; }).catch(function (error) {
        canvas.replaceWith(Object.assign(document.createElement("p"), { className: "muted", textContent: "Chart unavailable: " + error.message }));
      });
    });
  });
})();
