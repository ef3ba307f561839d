// modelreg catalog site: optional enhancements. Every page works without this file.
// Theme: ?theme=dark|light in the URL, else the last choice of the toggle (localStorage),
// else the operating system's preference (CSS prefers-color-scheme).
(function () {
  "use strict";
  var root = document.documentElement;
  var KEY = "modelreg-theme";

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function store(value) {
    try { window.localStorage.setItem(KEY, value); } catch (e) { /* file:// may refuse */ }
  }
  function systemDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function current() {
    var t = root.getAttribute("data-theme");
    if (t === "dark" || t === "light") { return t; }
    return systemDark() ? "dark" : "light";
  }
  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    }
  }

  var asked = new URLSearchParams(window.location.search).get("theme");
  var initial = asked === "dark" || asked === "light" ? asked : stored();
  if (initial === "dark" || initial === "light") { root.setAttribute("data-theme", initial); }

  function setupToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) { return; }
    button.hidden = false;
    apply(current());
    button.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      store(next);
      apply(next);
    });
  }

  function setupFilter() {
    var input = document.getElementById("filter");
    var table = document.getElementById("models");
    if (!input || !table) { return; }
    var count = document.getElementById("filter-count");
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    function haystack(row) {
      return [row.dataset.model, row.dataset.owner, row.dataset.task, row.dataset.status,
        row.dataset.envs, row.dataset.tags, row.textContent].join(" ").toLowerCase();
    }
    function run() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var text = haystack(row);
        var match = words.every(function (w) { return text.indexOf(w) !== -1; });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + rows.length + " models shown"; }
    }
    input.addEventListener("input", run);
    var asked = new URLSearchParams(window.location.search).get("q");
    if (asked) { input.value = asked; }
    run();
  }

  function cellValue(cell) {
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-value");
    return v !== null ? v : cell.textContent.trim();
  }
  function compareValues(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    var numeric = /^-?[0-9.]+(e-?[0-9]+)?$/i;
    if (numeric.test(a) && numeric.test(b)) { return x - y; }
    return a.localeCompare(b, undefined, { numeric: true });
  }
  function setupSort() {
    var tables = document.querySelectorAll("table");
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll("thead th[aria-sort]");
      Array.prototype.forEach.call(heads, function (th, index) {
        var button = th.querySelector("button");
        if (!button) { return; }
        button.addEventListener("click", function () {
          var order = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
          Array.prototype.forEach.call(heads, function (other) { other.setAttribute("aria-sort", "none"); });
          th.setAttribute("aria-sort", order);
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (r1, r2) {
            var c = compareValues(cellValue(r1.cells[index]), cellValue(r2.cells[index]));
            return order === "ascending" ? c : -c;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  }

  function start() {
    setupToggle();
    setupFilter();
    setupSort();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
