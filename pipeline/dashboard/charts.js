// The dashboard's charts: plain SVG drawn from the JSON embedded in the page. No library, no
// network: the page is one static file. Part of kinesis-pipeline (Apache-2.0).
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg"; // a namespace name, never fetched
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#7f7f7f", "#bcbd22"];
  const W = 600, H = 280, M = { top: 28, right: 24, bottom: 44, left: 56 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, attrs) {
    const node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = value;
    return node;
  }

  function niceTicks(lo, hi, count) {
    if (lo === hi) { lo -= 1; hi += 1; }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
    return { ticks: ticks, lo: Math.min(lo, ticks[0]), hi: Math.max(hi, ticks[ticks.length - 1]) };
  }

  function timeLabel(ms) {
    const iso = new Date(ms).toISOString(); // UTC, like the reports
    return iso.slice(11, 19);
  }

  function frame(chart, container) {
    const svg = el("svg", { class: "chart-svg", viewBox: `0 0 ${W} ${H}`, width: W, height: H });
    container.appendChild(svg);
    text(svg, W - M.right, H - 4, chart.x_label, { class: "axis-label", "text-anchor": "end" });
    text(svg, 4, 14, chart.y_label, { class: "axis-label" });
    return svg;
  }

  function yAxis(svg, lo, hi, bottom) {
    const y = niceTicks(lo, hi, 5);
    const base = H - (bottom || M.bottom);
    const scale = (v) => M.top + (base - M.top) * (1 - (v - y.lo) / (y.hi - y.lo));
    for (const t of y.ticks) {
      el("line", { x1: M.left, x2: W - M.right, y1: scale(t), y2: scale(t), class: "grid" }, svg);
      text(svg, M.left - 6, scale(t) + 4, String(+t.toPrecision(6)), { class: "tick", "text-anchor": "end" });
    }
    return scale;
  }

  function legend(container, names) {
    const box = document.createElement("div");
    box.className = "legend";
    names.forEach((name, i) => {
      const item = document.createElement("span");
      item.style.borderColor = COLORS[i % COLORS.length];
      item.textContent = name;
      box.appendChild(item);
    });
    container.appendChild(box);
  }

  function line(chart, container) {
    const svg = frame(chart, container);
    const points = chart.series.flatMap((s) => s.points);
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
    const sy = yAxis(svg, Math.min(0, ...ys), Math.max(...ys));
    const sx = (v) => M.left + (W - M.left - M.right) * (v - x0) / (x1 - x0);
    for (let i = 0; i <= 4; i++) {
      const v = x0 + (x1 - x0) * i / 4;
      const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      text(svg, sx(v), H - M.bottom + 16, timeLabel(v), { class: "tick", "text-anchor": anchor });
    }
    const plot = el("g", { class: "plot" }, svg);
    chart.series.forEach((s, i) => {
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join(" ");
      const path = el("path", { d: d, class: "series", stroke: COLORS[i % COLORS.length] }, plot);
      el("title", {}, path).textContent = s.name;
    });
    legend(container, chart.series.map((s) => s.name));
    return plot;
  }

  function bars(chart, container) {
    const svg = frame(chart, container);
    const values = chart.series.flatMap((s) => s.values);
    const sy = yAxis(svg, 0, Math.max(1, ...values), 96);
    const band = (W - M.left - M.right) / chart.categories.length;
    const width = band * 0.8 / chart.series.length;
    const plot = el("g", { class: "plot" }, svg);
    chart.categories.forEach((category, c) => {
      const x = M.left + band * c + band * 0.1;
      const cx = x + band * 0.4, cy = H - 96 + 12;
      text(svg, cx, cy, category, {
        class: "tick", "text-anchor": "end", transform: `rotate(-20 ${cx} ${cy})`,
      });
      chart.series.forEach((s, i) => {
        const v = s.values[c];
        const rect = el("rect", {
          class: "bar", x: x + width * i, width: width, y: sy(v), height: Math.max(0.5, sy(0) - sy(v)),
          fill: COLORS[i % COLORS.length],
        }, plot);
        el("title", {}, rect).textContent = `${category}: ${v}`;
      });
    });
    legend(container, chart.series.map((s) => s.name));
    return plot;
  }

  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  let rendered = 0;
  document.querySelectorAll(".chart").forEach((container) => {
    const chart = data.charts[Number(container.dataset.chart)];
    if (!chart.available || !chart.has_data) return;
    const plot = chart.kind === "bar" ? bars(chart, container) : line(chart, container);
    const box = plot.getBBox(); // laid out by the browser: the test reads it back
    container.dataset.plotBox = `${Math.round(box.width)}x${Math.round(box.height)}`;
    rendered += 1;
  });
  document.documentElement.dataset.chartsRendered = String(rendered);
})();
