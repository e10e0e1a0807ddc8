// The status page's charting library: about 80 lines of plain browser JavaScript that draw line charts as SVG,
// served by the app at /status/chart.js (no CDN: the page works offline). Hand-written rather than uPlot because the
// page needs only lines, a legend with the latest values, and a y axis; uPlot would add 50 KB and a CSS file to serve.
export const CHART_JS = String.raw`
(function () {
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#ea580c'];
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) {
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (Math.abs(v) >= 100 || v === Math.round(v)) return String(Math.round(v));
    return v.toFixed(2);
  }
  // lines: [{ name, points: [[t, v], ...] }]; draws into the <svg> svg (width x height from its viewBox).
  function lineChart(svg, lines, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 360, H = 150, L = 44, R = 8, T = 8, B = 18;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var t0 = Infinity, t1 = -Infinity, vmax = 0, points = 0;
    lines.forEach(function (l) {
      l.points.forEach(function (p) { t0 = Math.min(t0, p[0]); t1 = Math.max(t1, p[0]); vmax = Math.max(vmax, p[1]); points++; });
    });
    if (points === 0) { el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, svg).textContent = 'no data yet'; return 0; }
    if (vmax <= 0) vmax = 1;
    if (t1 <= t0) t1 = t0 + 1;
    var x = function (t) { return L + ((t - t0) / (t1 - t0)) * (W - L - R); };
    var y = function (v) { return T + (1 - v / vmax) * (H - T - B); };
    for (var i = 0; i <= 2; i++) {
      var v = (vmax * i) / 2;
      el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }, svg);
      el('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end', class: 'tick' }, svg).textContent = fmt(v);
    }
    el('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'tick' }, svg).textContent = Math.round((t1 - t0) / 1000) + ' s';
    var drawn = 0;
    lines.forEach(function (l, n) {
      if (l.points.length === 0) return;
      var d = l.points.map(function (p, j) { return (j === 0 ? 'M' : 'L') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1); }).join(' ');
      el('path', { d: d, fill: 'none', stroke: COLORS[n % COLORS.length], 'stroke-width': 1.6, class: 'line', 'data-name': l.name }, svg);
      drawn++;
    });
    return drawn;
  }
  function legend(div, lines) {
    div.innerHTML = '';
    lines.forEach(function (l, n) {
      var last = l.points.length ? l.points[l.points.length - 1][1] : 0;
      var span = document.createElement('span');
      span.className = 'key';
      span.innerHTML = '<i style="background:' + COLORS[n % COLORS.length] + '"></i>';
      span.appendChild(document.createTextNode(l.name + ' ' + fmt(last)));
      div.appendChild(span);
    });
  }
  window.SkytideChart = { lineChart: lineChart, legend: legend, fmt: fmt };
})();
`;
