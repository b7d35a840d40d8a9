// The dashboard's only script: draws the charts from the JSON embedded in the page and runs the filters.
// It never writes HTML: every text goes through the DOM as data (textContent, option values, plotly traces).
"use strict";

function readJson(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("div.chart[data-chart]").forEach((div) => {
    const fig = readJson(div.dataset.chart);
    if (!fig) return;
    Plotly.newPlot(div, fig.data, fig.layout, { displaylogo: false, responsive: true });
    div.dataset.drawn = "1";
  });
}

function matches(row, attr, value) {
  if (!value) return true;
  const have = row.dataset[attr] || "";
  return attr === "lang" ? have.split(" ").includes(value) : have === value;
}

function setupTableFilters() {
  document.querySelectorAll("form.filters").forEach((form) => {
    const table = document.getElementById(form.dataset.filter);
    if (!table) return;
    const selects = Array.from(form.querySelectorAll("select[data-attr]"));
    const apply = () => {
      table.querySelectorAll("tbody tr").forEach((row) => {
        row.hidden = !selects.every((s) => matches(row, s.dataset.attr, s.value));
      });
    };
    selects.forEach((s) => s.addEventListener("change", apply));
    form.addEventListener("submit", (e) => e.preventDefault());
  });
}

function setupTrendFilter() {
  const form = document.getElementById("trend-filter");
  if (!form) return;
  const div = document.getElementById(form.dataset.chart);
  const dim = document.getElementById("trend-dimension");
  const boxes = Array.from(form.querySelectorAll("input.trend-group"));
  const apply = () => {
    if (!div || !div.data) return;
    const groups = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    const visible = div.data.map((t) => {
      const meta = t.meta || {};
      return meta.dimension === dim.value && (meta.group === "" || groups.has(meta.group));
    });
    Plotly.restyle(div, { visible: visible });
  };
  dim.addEventListener("change", apply);
  boxes.forEach((b) => b.addEventListener("change", apply));
  form.addEventListener("submit", (e) => e.preventDefault());
}

function setupCompareForm() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const picked = Array.from(document.getElementById("compare-models").selectedOptions).map((o) => o.value);
    if (picked.length >= 2) window.location.assign(form.dataset.base + "/" + picked.map(encodeURIComponent).join("~"));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  setupTableFilters();
  setupTrendFilter();
  setupCompareForm();
});
