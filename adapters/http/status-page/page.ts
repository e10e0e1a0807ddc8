// The status page a browser gets at `GET /` (Accept: text/html): live charts of /status/history.json, polled every
// two seconds, drawn by /status/chart.js; controls for the simulated network when `skytide dev` runs one. Everything
// is served by the app: no CDN, works offline.
export const STATUS_PAGE_HTML = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>skytide status</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; background: #f8fafc; color: #0f172a; }
  header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; background: #0f172a; color: #e2e8f0; }
  header h1 { font-size: 16px; margin: 0; } header .muted { color: #94a3b8; }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; padding: 12px 16px; }
  section.chart, section.controls { background: white; border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px 10px; }
  h2 { font-size: 13px; margin: 0 0 4px; } svg { width: 100%; height: 150px; display: block; }
  .grid { stroke: #e2e8f0; } .tick { font-size: 9px; fill: #64748b; } .empty { font-size: 11px; fill: #94a3b8; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 11px; color: #334155; min-height: 16px; }
  .key i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
  .controls form { display: flex; gap: 6px; margin: 4px 0; align-items: center; } .controls input, .controls select { font: inherit; }
  #answer { font-family: ui-monospace, monospace; font-size: 11px; white-space: pre-wrap; color: #334155; max-height: 120px; overflow: auto; }
</style></head>
<body>
<header><h1>skytide</h1><span id="summary" class="muted">loading…</span></header>
<main id="charts">
  <section class="controls" id="controls" hidden>
    <h2>simulation</h2>
    <form id="rate"><label>events/s <input name="rate" type="number" min="0" step="0.5" style="width:70px"></label><button>set rate</button></form>
    <form id="fault"><select name="kind"></select><button>inject fault</button></form>
    <form id="sweep"><button>start a sweep</button></form>
    <form id="reprocess"><input name="did" placeholder="did:plc:…" size="28"><button>reprocess</button></form>
    <div id="answer"></div>
  </section>
</main>
<script src="/status/chart.js"></script>
<script>
  var CHARTS = [
    ['in', 'events/s in, per stream source'], ['out', 'entries/s out, per stream'], ['length', 'stream length'],
    ['pending', 'pending (consumer lag)'], ['latency', 'function latency, ms per call'], ['cursor', 'cursors per host'],
    ['dlq', 'dead letters'], ['sync', 'repos per sync state'], ['labels', 'labels'], ['faults', 'faults counted'],
    ['sim', 'simulated network'],
  ];
  var main = document.getElementById('charts');
  var panels = {};
  CHARTS.forEach(function (c) {
    var s = document.createElement('section');
    s.className = 'chart'; s.dataset.chart = c[0];
    s.innerHTML = '<h2>' + c[1] + '</h2><svg></svg><div class="legend"></div>';
    main.insertBefore(s, document.getElementById('controls'));
    panels[c[0]] = s;
  });
  function draw(history) {
    var byChart = {};
    history.samples.forEach(function (s) {
      for (var key in s.series) {
        var i = key.indexOf(':'); var chart = key.slice(0, i), line = key.slice(i + 1);
        byChart[chart] = byChart[chart] || {};
        (byChart[chart][line] = byChart[chart][line] || []).push([s.t, s.series[key]]);
      }
    });
    var nonZero = 0;
    CHARTS.forEach(function (c) {
      var lines = Object.keys(byChart[c[0]] || {}).sort().map(function (name) { return { name: name, points: byChart[c[0]][name] }; });
      var p = panels[c[0]];
      p.hidden = c[0] === 'sim' && lines.length === 0;
      SkytideChart.lineChart(p.querySelector('svg'), lines);
      SkytideChart.legend(p.querySelector('.legend'), lines);
      var max = 0; lines.forEach(function (l) { l.points.forEach(function (pt) { max = Math.max(max, pt[1]); }); });
      p.dataset.max = String(max);
      if (max > 0) nonZero++;
    });
    document.body.dataset.nonZeroCharts = String(nonZero);
    var last = history.samples[history.samples.length - 1];
    document.getElementById('summary').textContent = last ? history.samples.length + ' samples, last at ' + new Date(last.t).toLocaleTimeString() : 'no samples yet';
    var controls = history.controls;
    var box = document.getElementById('controls');
    box.hidden = !controls;
    if (controls) {
      var sel = document.querySelector('#fault select');
      if (sel.options.length === 0) controls.faults.forEach(function (f) { var o = document.createElement('option'); o.textContent = f; sel.appendChild(o); });
      var rate = document.querySelector('#rate input');
      if (document.activeElement !== rate) rate.value = controls.rate;
    }
  }
  function poll() {
    fetch('/status/history.json', { headers: { accept: 'application/json' } }).then(function (r) { return r.json(); })
      .then(draw).catch(function (e) { document.getElementById('summary').textContent = 'unreachable: ' + e; })
      .finally(function () { setTimeout(poll, 2000); });
  }
  function post(url, body) {
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) })
      .then(function (r) { return r.text().then(function (t) { document.getElementById('answer').textContent = r.status + ' ' + t; }); });
  }
  document.getElementById('rate').onsubmit = function (e) { e.preventDefault(); post('/dev/rate', { rate: Number(e.target.rate.value) }); };
  document.getElementById('fault').onsubmit = function (e) { e.preventDefault(); post('/dev/fault', { kind: e.target.kind.value }); };
  document.getElementById('sweep').onsubmit = function (e) { e.preventDefault(); post('/sweep'); };
  document.getElementById('reprocess').onsubmit = function (e) { e.preventDefault(); post('/reprocess/' + encodeURIComponent(e.target.did.value.trim())); };
  poll();
</script>
</body></html>`;
