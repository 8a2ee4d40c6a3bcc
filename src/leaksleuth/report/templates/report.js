/* leaksleuth report glue: reads the embedded JSON, draws the uPlot charts and the
   d3-flame-graph, wires search/zoom/hover. Every string from a profile reaches the page through
   textContent or d3's .text(), never as HTML. window.leaksleuth exposes what was drawn (tests
   and curious users read it). */
(function () {
  "use strict";
  performance.mark("leaksleuth-start");
  var data = JSON.parse(document.getElementById("leaksleuth-data").textContent);
  var api = (window.leaksleuth = { data: data, charts: {}, flame: null, gcMarks: [],
    zoomed: null, search: null, ready: false, errors: [] });

  function fmtBytes(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    // the spelling of leaksleuth.units.human_bytes: decimal SI, one decimal
    var neg = v < 0, a = Math.abs(v), u = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (a >= 1000 && i < u.length - 1) { a /= 1000; i++; }
    return (neg ? "-" : "") + (i ? a.toFixed(1) : a.toFixed(0)) + " " + u[i];
  }
  function fmtValue(v, unit) {
    if (unit === "bytes") return fmtBytes(v);
    if (unit === "nanoseconds") return (v / 1e9).toFixed(3) + " s";
    return String(v) + (unit && unit !== "count" ? " " + unit : "");
  }
  api.fmtBytes = fmtBytes;

  function gcMarkPlugin(marks) {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      var labels = marks.length <= 40;  // a long session gets lines only, fainter
      ctx.save();
      ctx.strokeStyle = labels ? "rgba(120,120,120,0.55)" : "rgba(120,120,120,0.25)";
      ctx.fillStyle = "rgba(90,90,90,0.9)";
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1;
      ctx.font = Math.round(10 * devicePixelRatio) + "px sans-serif";
      marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.time, "x", true));
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        if (labels) ctx.fillText("GC×" + m.cycles, x + 3, top + 12 * devicePixelRatio);
      });
      ctx.restore();
    }] } };
  }

  function drawCharts(d) {
    var heap = d.heap, times = heap.times;
    for (var i = 1; i < times.length; i++) {
      var c = heap.num_gc[i] - heap.num_gc[i - 1];
      if (c > 0) api.gcMarks.push({ time: times[i], cycles: c });
    }
    var width = Math.max(320, document.getElementById("chart-heap").clientWidth - 10);
    var byteAxis = { values: function (u, vals) { return vals.map(fmtBytes); }, size: 80 };
    var heapSeries = [
      {},
      { label: "post-GC floor", stroke: "#c0392b", width: 2.5, value: function (u, v) { return fmtBytes(v); } },
      { label: "HeapAlloc", stroke: "#2980b9", width: 1.5, value: function (u, v) { return fmtBytes(v); } },
      { label: "NextGC", stroke: "#7f8c8d", width: 1.5, dash: [6, 4], value: function (u, v) { return fmtBytes(v); } },
    ];
    var heapData = [times.slice(), heap.floor_bytes.slice(), heap.heap_alloc.slice(), heap.next_gc.slice()];
    var nil = function (arr) { return arr.length === times.length ? arr : times.map(function () { return null; }); };
    heapData = heapData.map(nil);
    api.charts.heap = new uPlot({
      width: width, height: 280, series: heapSeries, axes: [{}, byteAxis],
      plugins: [gcMarkPlugin(api.gcMarks)], cursor: { drag: { x: true, y: false } },
    }, heapData, document.getElementById("chart-heap"));
    var g = d.goroutines;
    if (g.times.length) {
      api.charts.goroutines = new uPlot({
        width: width, height: 220,
        series: [{}, { label: "goroutines", stroke: "#8e44ad", width: 2 }],
        plugins: [gcMarkPlugin(api.gcMarks)],
      }, [g.times.slice(), g.counts.slice()], document.getElementById("chart-goroutines"));
    }
  }

  function drawFlame(f) {
    var box = document.getElementById("flame");
    var details = document.getElementById("flame-details");
    var unit = f.unit;
    var modeSel = document.getElementById("flame-mode");
    var key = f.differential ? (modeSel ? modeSel.value : "g") : "t";
    function val(d) { var o = d.data || d; return o[key] || 0; }
    function label(d) {
      var o = d.data, parts = [o.n];
      if (o.f) parts.push("(" + o.f + ")");
      if (f.differential) {
        parts.push("— now " + fmtValue(o.t, unit) + ", base " + fmtValue(o.b, unit) +
          ", change " + (o.d > 0 ? "+" : "") + fmtValue(o.d, unit) + ", growth " + fmtValue(o.g, unit));
      } else {
        var root = f.root.t || 1;
        parts.push("— " + fmtValue(o.t, unit) + " (" + (100 * o.t / root).toFixed(2) + "%)");
      }
      if (o.o) parts.push("— " + o.o + " frames below " + fmtValue(f.threshold, unit) + " folded here");
      return parts.join(" ");
    }
    function color(d) {
      if (d.highlight) return "#e600e6";
      var o = d.data;
      if (o.o) return "#d0d0d0";
      if (!f.differential) return null;
      var delta = o.d || 0, ref = Math.max(o.t || 0, o.b || 0, 1);
      var k = Math.min(1, Math.abs(delta) / ref);
      var c = Math.round(235 * (1 - k));
      if (delta > 0) return "rgb(255," + c + "," + c + ")";
      if (delta < 0) return "rgb(" + c + "," + c + ",255)";
      return "rgb(225,225,225)";
    }
    box.textContent = "";
    var chart = flamegraph.default()
      .width(Math.max(320, box.clientWidth))
      .cellHeight(18)
      .transitionDuration(250)
      .minFrameSize(1)
      .inverted(false)
      .getValue(val)
      .setLabelHandler(label)
      .setDetailsElement(details)
      .setSearchMatch(function (d, term) {
        return !!term && String(d.data.n).toLowerCase().indexOf(term.toLowerCase()) >= 0;
      })
      .setSearchHandler(function (results, sum, total) {
        api.search = { matches: results.length, sum: sum, total: total };
        details.textContent = results.length ? ("search: " + results.length + " frames, " +
          fmtValue(sum, unit) + " of " + fmtValue(total, unit) +
          " (" + (100 * sum / (total || 1)).toFixed(2) + "%)") : "search: no match";
      })
      .onClick(function (d) { api.zoomed = d.data.n; })
      .setColorMapper(function (d, original) { return color(d) || original; });
    d3.select(box).datum(f.root).call(chart);
    api.flame = chart;
    api.flameKey = key;
  }

  function wire(f) {
    var input = document.getElementById("flame-search");
    var go = function () {
      var term = input.value.trim();
      if (term) api.flame.search(term); else { api.flame.clear(); api.search = null; }
    };
    input.addEventListener("input", go);
    document.getElementById("flame-reset").addEventListener("click", function () {
      api.flame.resetZoom(); api.zoomed = null;
    });
    var modeSel = document.getElementById("flame-mode");
    if (modeSel) modeSel.addEventListener("change", function () { drawFlame(f); go(); });
  }

  try {
    if (data.diagnosis) drawCharts(data.diagnosis);
  } catch (e) { api.errors.push("charts: " + e); throw e; }
  try {
    if (data.flame) { drawFlame(data.flame); wire(data.flame); }
  } catch (e) { api.errors.push("flame: " + e); throw e; }
  requestAnimationFrame(function () {
    requestAnimationFrame(function () {
      performance.mark("leaksleuth-painted");
      performance.measure("leaksleuth-first-paint", "leaksleuth-start", "leaksleuth-painted");
      api.ready = true;
    });
  });
})();
