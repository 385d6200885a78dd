/*
 * Aisle dashboard: the one script behind the web UI the server embeds at `/`.
 *
 * Vanilla ES2020, no dependencies, nothing loaded from outside. A small hash router renders
 * one of four pages (overview, models, experiments, explore) into <main id="page"> from the
 * JSON API on the same origin; small SVG helpers below draw the charts.
 *
 * Contract with the browser tests: document.body.dataset.ready is "0" while a page loads and
 * "1" once it is rendered, and nothing here writes to the console (failures are shown in the
 * page instead).
 */

// Everything lives in this function so none of the names below leak into the page's globals.
(() => {
'use strict';

/* ------------------------------------------------------------------ DOM helpers */

const SVG_NS = 'http://www.w3.org/2000/svg';

// Sets attributes (functions become event listeners; null/false are skipped) and appends
// children (strings become text nodes, so shop data can never inject markup).
function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') node.addEventListener(key.replace(/^on/, ''), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

const enc = encodeURIComponent;

function muted(text) {
  return h('p', { class: 'muted' }, text);
}

function card(...children) {
  return h('section', { class: 'card' }, ...children);
}

function tableWrap(table) {
  // Wide tables scroll sideways inside their card instead of widening the page on phones.
  return h('div', { class: 'table-wrap' }, table);
}

/* ------------------------------------------------------------------ Formatting */

// A fixed locale, so every visitor (and every test) sees the same separators.
const LOCALE = 'en-US';
const countFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const twoDecimals = new Intl.NumberFormat(LOCALE, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const DASH = '—';
const DAY_MS = 86400000;

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const pad2 = (n) => String(n).padStart(2, '0');

function fmtCount(n) {
  return isNum(n) ? countFormat.format(n) : DASH;
}

function fmtMoney(n) {
  return isNum(n) ? twoDecimals.format(n) : DASH;
}

function fmtPct(x) {
  return isNum(x) ? twoDecimals.format(x * 100) + '%' : DASH;
}

// Axis ticks of very small rates (steps under 0.01%) need more places to stay distinct.
function fmtPctTick(x) {
  const pct = x * 100;
  return pct === 0 || pct >= 0.1 ? fmtPct(x) : `${Number(pct.toPrecision(2))}%`;
}

function fmtLift(x) {
  return isNum(x) ? (x > 0 ? '+' : '') + fmtPct(x) : DASH;
}

function fmtP(p) {
  if (!isNum(p)) return '';
  return p < 0.001 ? 'p < 0.001' : 'p = ' + p.toFixed(3);
}

// Ranking metrics (ndcg, precision, ...) are fractions read to three places, not percentages.
function fmtMetric(x) {
  return isNum(x) ? x.toFixed(3) : DASH;
}

function fmtScore(x) {
  if (!isNum(x)) return DASH;
  return Math.abs(x) >= 100 ? countFormat.format(x) : x.toFixed(3);
}

function fmtSeconds(x) {
  return isNum(x) ? twoDecimals.format(x) + ' s' : DASH;
}

function fmtBytes(n) {
  if (!isNum(n)) return DASH;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return (unit === 0 ? countFormat.format(value) : value.toFixed(1)) + ' ' + units[unit];
}

// Unix seconds as a local "YYYY-MM-DD HH:MM".
function fmtDateTime(seconds) {
  if (!isNum(seconds)) return DASH;
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function fmtClock(date) {
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
}

// Days stay in UTC both ways, so "2024-03-31" never shifts with the visitor's time zone.
function dayToMs(day) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(day || ''));
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

function msToDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

function ciText(ci, format) {
  if (!Array.isArray(ci) || !isNum(ci[0]) || !isNum(ci[1])) return null;
  return `${format(ci[0])} – ${format(ci[1])}`;
}

/* ------------------------------------------------------------------ API and keys */

const KEY_STORAGE = 'aisle-api-key';
let memoryKey = ''; // used when localStorage is unavailable (private modes, file://)

function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || memoryKey;
  } catch (_) {
    return memoryKey;
  }
}

function saveKey(key) {
  memoryKey = key;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch (_) {
    // Storage refused: the key still works until the tab is closed.
  }
  updateKeyButton();
}

class ApiError extends Error {
  constructor(status, code, message, path) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
  }
}

const isAuthError = (e) => e instanceof ApiError && (e.status === 401 || e.status === 403);

// GET a JSON document from the API. Rejects only with an ApiError (status 0 when the server
// could not be reached); pages let the router turn that into an error box or the key form.
async function api(path) {
  const headers = { Accept: 'application/json' };
  const key = storedKey();
  if (key) headers['X-Api-Key'] = key;
  let response;
  try {
    response = await fetch(path, { headers, cache: 'no-store' });
  } catch (_) {
    throw new ApiError(0, 'network', 'the server could not be reached', path);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null; // empty or non-JSON body: described below
  }
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(response.status, err.code || `http_${response.status}`,
      err.message || response.statusText || 'the request failed', path);
  }
  if (body === null) throw new ApiError(response.status, 'bad_json', 'the answer was not JSON', path);
  return body;
}

// Like api(), but answers {data} or {error} so one failing part does not sink a whole page.
// Key problems still propagate: they need the key form, not a per-part message.
async function tryApi(path) {
  try {
    return { data: await api(path) };
  } catch (error) {
    if (isAuthError(error)) throw error;
    return { error };
  }
}

function errorBox(error, what) {
  const detail = error instanceof ApiError
    ? `${error.message} (${error.status ? 'HTTP ' + error.status + ', ' : ''}${error.code}${error.path ? ', ' + error.path : ''})`
    : String((error && error.message) || error);
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, what || 'Could not load this page.'), ' ', detail);
}

function keyForm(error) {
  const input = h('input', {
    type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true,
    placeholder: 'API key',
  });
  const why = storedKey()
    ? `The saved API key was refused (HTTP ${error.status}). Enter another one.`
    : 'This server needs an API key. It is kept in this browser only.';
  return h('form', {
    class: 'card key-form',
    onsubmit: (event) => {
      event.preventDefault();
      saveKey(input.value.trim());
      route();
    },
  },
  h('h2', {}, 'API key'),
  h('p', {}, why),
  h('div', { class: 'row' },
    h('label', { for: 'api-key', class: 'visually-hidden' }, 'API key'),
    input,
    h('button', { type: 'submit' }, 'Save key')));
}

function updateKeyButton() {
  const button = document.getElementById('forget-key');
  if (button) button.hidden = !storedKey();
}

/* ------------------------------------------------------------------ Charts: shared parts */

// Okabe–Ito colours: they stay distinguishable for the common colour-vision deficiencies.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#7F7F7F', '#000000'];

const chartDrawers = new WeakMap(); // chart box -> draw(width) returning its content
const drawnWidths = new WeakMap();

// Charts are drawn at their box's real pixel width so 11px labels stay 11px on a phone;
// the observer redraws them when that width changes (rotation, window resize). The redraw
// waits for the next frame: changing layout inside the observer callback would trigger the
// browser's "ResizeObserver loop" error.
const chartObserver = typeof ResizeObserver === 'function'
  ? new ResizeObserver((entries) => {
    const boxes = entries.map((entry) => entry.target);
    requestAnimationFrame(() => boxes.forEach((box) => safely(() => drawChart(box))));
  })
  : null;

function chartBox(draw) {
  const box = h('div', { class: 'chart-box' });
  chartDrawers.set(box, draw);
  if (chartObserver) chartObserver.observe(box);
  return box;
}

function drawChart(box, force) {
  const draw = chartDrawers.get(box);
  if (!draw || !box.isConnected) return;
  const width = Math.max(280, Math.floor(box.clientWidth));
  if (!force && drawnWidths.get(box) === width) return;
  drawnWidths.set(box, width);
  box.replaceChildren(draw(width));
}

// Replaces a container's content and draws the charts in it right away (synchronously, so
// they exist before the page is marked ready).
function replaceContent(container, node) {
  if (chartObserver) container.querySelectorAll('.chart-box').forEach((b) => chartObserver.unobserve(b));
  container.replaceChildren(node);
  container.querySelectorAll('.chart-box').forEach((box) => drawChart(box, true));
}

// Ticks at 1, 2 or 5 times a power of ten, from 0 to at least max; minStep keeps count
// axes on whole numbers.
function niceTicks(max, count, minStep) {
  const top = max > 0 ? max : 1;
  const raw = top / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = Math.max(minStep || 0, (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude);
  const ticks = [];
  for (let i = 0; i * step < top + step * 0.999; i += 1) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

// A y scale: its ticks and a map from value to 0..1. The log scale uses log10(1 + v), so
// zero counts stay on the axis.
function yScale(max, log, integer) {
  if (log) {
    const ticks = [0, 1];
    while (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] * 10);
    const top = Math.log10(1 + ticks[ticks.length - 1]);
    return { ticks, unit: (v) => Math.log10(1 + Math.max(0, v)) / top };
  }
  const ticks = niceTicks(max, 5, integer ? 1 : 0);
  const top = ticks[ticks.length - 1];
  return { ticks, unit: (v) => v / top };
}

function chartHeight(width) {
  return Math.round(Math.min(320, Math.max(220, width * 0.42)));
}

// The left margin fits the longest y label (about 6.5px a character at 11px).
function leftMargin(labels) {
  return 12 + Math.max(...labels.map((l) => l.length)) * 6.5;
}

function svgRoot(title, width, height) {
  return s('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet',
  }, s('title', {}, title));
}

function yAxis(ticks, format, py, m, width) {
  return s('g', { class: 'axis y-axis' }, ticks.map((t) => [
    s('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: py(t), y2: py(t) }),
    s('text', { x: m.left - 6, y: py(t), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, format(t)),
  ]));
}

function legend(items) {
  return h('ul', { class: 'legend' }, items.map((item) => {
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = item.color; // CSSOM, not a style attribute: CSP-friendly
    return h('li', {}, swatch, item.label);
  }));
}

// Contiguous runs of points that satisfy ok(); a gap in the data breaks a line or band.
function runs(points, ok) {
  const out = [];
  let current = [];
  for (const p of points) {
    if (ok(p)) current.push(p);
    else if (current.length) {
      out.push(current);
      current = [];
    }
  }
  if (current.length) out.push(current);
  return out;
}

/* ------------------------------------------------------------------ Charts: lines */

/*
 * A line chart with one line per series and, where points carry lo/hi, a shaded band for
 * that interval. With a single x value there is no line to draw, so each series becomes a
 * point with an error bar, nudged sideways so series do not hide each other.
 *   opt: {title, series: [{name, color, points: [{x, y, lo?, hi?}]}], xFormat, yFormat, log?}
 */
function lineChart(opt, width) {
  const series = opt.series
    .map((sr) => ({ ...sr, points: sr.points.slice().sort((a, b) => a.x - b.x) }))
    .filter((sr) => sr.points.length);
  const xs = [...new Set(series.flatMap((sr) => sr.points.map((p) => p.x)))].sort((a, b) => a - b);
  if (!xs.length) return muted(opt.empty || 'No data yet.');

  const height = chartHeight(width);
  const values = series.flatMap((sr) => sr.points.flatMap((p) => [p.y, p.hi])).filter(isNum);
  const scale = yScale(Math.max(0, ...values), opt.log, opt.integer);
  const tickFormat = opt.tickFormat || opt.yFormat;
  const labels = scale.ticks.map(tickFormat);
  const m = { top: 12, right: 16, bottom: 28, left: leftMargin(labels) };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const single = xs.length === 1;
  const x0 = single ? xs[0] - 1 : xs[0];
  const x1 = single ? xs[0] + 1 : xs[xs.length - 1];
  const px = (x) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const py = (v) => m.top + ph - scale.unit(v) * ph;

  const root = svgRoot(opt.title, width, height);
  root.append(yAxis(scale.ticks, tickFormat, py, m, width));
  root.append(xAxis(xs, opt.xFormat, px, m, height, pw));
  series.forEach((sr, i) => {
    root.append(single
      ? errorBarShapes(sr, px(xs[0]) + (i - (series.length - 1) / 2) * 16, py)
      : lineShapes(sr, px, py, xs.length <= 45));
  });

  const tip = h('div', { class: 'chart-tip', hidden: true });
  addHover(root, tip, { xs, series, px, m, ph, pw, width, single, opt });
  return h('div', { class: 'chart-inner' }, root, tip,
    legend(series.map((sr) => ({ color: sr.color, label: sr.label || sr.name }))));
}

// A few evenly spaced x labels; as many as fit at ~110px each.
function xAxis(xs, format, px, m, height, pw) {
  const room = Math.max(2, Math.floor(pw / 110));
  let picks = xs;
  if (xs.length > room) {
    picks = [];
    for (let i = 0; i < room; i += 1) picks.push(xs[Math.round((i * (xs.length - 1)) / (room - 1))]);
  }
  const y = height - m.bottom;
  return s('g', { class: 'axis x-axis' },
    s('line', { class: 'baseline', x1: m.left, x2: m.left + pw, y1: y, y2: y }),
    picks.map((x, i) => {
      // Keep the first and last label inside the plot instead of centred on its edge.
      const anchor = picks.length > 1 && i === 0 ? 'start'
        : picks.length > 1 && i === picks.length - 1 ? 'end' : 'middle';
      return [
        s('line', { class: 'tick', x1: px(x), x2: px(x), y1: y, y2: y + 4 }),
        s('text', { x: px(x), y: y + 16, 'text-anchor': anchor }, format(x)),
      ];
    }));
}

function lineShapes(sr, px, py, dots) {
  const g = s('g', { class: 'series' });
  const path = (pts, key) => pts.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p[key]).toFixed(1)}`).join('');
  for (const run of runs(sr.points, (p) => isNum(p.lo) && isNum(p.hi))) {
    const back = run.slice().reverse().map((p) => `L${px(p.x).toFixed(1)},${py(p.lo).toFixed(1)}`).join('');
    g.append(s('path', { class: 'band', d: path(run, 'hi') + back + 'Z', fill: sr.color, 'fill-opacity': 0.15 }));
  }
  for (const run of runs(sr.points, (p) => isNum(p.y))) {
    if (run.length > 1) g.append(s('path', { class: 'line', d: path(run, 'y'), stroke: sr.color, fill: 'none' }));
    // A lone point between gaps would be invisible as a path, so it always gets a dot.
    if (dots || run.length === 1) {
      run.forEach((p) => g.append(s('circle', { cx: px(p.x), cy: py(p.y), r: 2.5, fill: sr.color })));
    }
  }
  return g;
}

function errorBarShapes(sr, x, py) {
  const p = sr.points[0];
  const g = s('g', { class: 'series' });
  if (isNum(p.lo) && isNum(p.hi)) {
    g.append(s('path', {
      class: 'error-bar', stroke: sr.color, fill: 'none',
      d: `M${x - 5},${py(p.hi)}H${x + 5}M${x},${py(p.hi)}V${py(p.lo)}M${x - 5},${py(p.lo)}H${x + 5}`,
    }));
  }
  if (isNum(p.y)) g.append(s('circle', { cx: x, cy: py(p.y), r: 4.5, fill: sr.color }));
  return g;
}

// Hovering (or dragging a finger) over the plot shows every series' value at the nearest x.
function addHover(root, tip, c) {
  const guide = s('line', { class: 'guide', y1: c.m.top, y2: c.m.top + c.ph, x1: 0, x2: 0, visibility: 'hidden' });
  const overlay = s('rect', { class: 'overlay', x: c.m.left, y: c.m.top, width: c.pw, height: c.ph, fill: 'transparent' });
  root.append(guide, overlay);
  overlay.addEventListener('pointermove', (event) => safely(() => {
    const box = root.getBoundingClientRect();
    const sx = ((event.clientX - box.left) * c.width) / box.width;
    let best = c.xs[0];
    for (const x of c.xs) if (Math.abs(c.px(x) - sx) < Math.abs(c.px(best) - sx)) best = x;
    const gx = c.single ? c.m.left + c.pw / 2 : c.px(best);
    guide.setAttribute('x1', gx);
    guide.setAttribute('x2', gx);
    guide.setAttribute('visibility', 'visible');
    tip.replaceChildren(h('div', { class: 'tip-head' }, c.opt.xFormat(best)),
      ...c.series.map((sr) => tipRow(sr, sr.points.find((p) => p.x === best), c.opt.yFormat)));
    tip.hidden = false;
    // Show the tip on the roomier side of the guide line.
    const fraction = gx / c.width;
    tip.style.left = (fraction * 100).toFixed(2) + '%';
    tip.style.transform = fraction > 0.55 ? 'translateX(calc(-100% - 10px))' : 'translateX(10px)';
  }));
  overlay.addEventListener('pointerleave', () => {
    guide.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  });
}

function tipRow(sr, point, format) {
  const swatch = h('span', { class: 'swatch' });
  swatch.style.background = sr.color;
  const value = point && isNum(point.y) ? format(point.y) : DASH;
  const ci = point && isNum(point.lo) && isNum(point.hi) ? ` (${format(point.lo)} – ${format(point.hi)})` : '';
  return h('div', {}, swatch, `${sr.name}: ${value}${ci}`);
}

/* ------------------------------------------------------------------ Charts: bars */

/*
 * A grouped bar chart: one group per label, one bar per series inside each group.
 *   opt: {title, groups: [label], series: [{name, color, values: [number|null]}], yFormat}
 */
function barChart(opt, width) {
  const height = chartHeight(width);
  const values = opt.series.flatMap((sr) => sr.values).filter(isNum);
  const scale = yScale(Math.max(0, ...values), false);
  const labels = scale.ticks.map(opt.yFormat);
  const m = { top: 18, right: 12, bottom: 28, left: leftMargin(labels) };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const py = (v) => m.top + ph - scale.unit(v) * ph;
  const groupWidth = pw / opt.groups.length;
  const barWidth = Math.min(44, (groupWidth * 0.8) / opt.series.length);

  const root = svgRoot(opt.title, width, height);
  root.append(yAxis(scale.ticks, opt.yFormat, py, m, width));
  root.append(s('line', { class: 'baseline', x1: m.left, x2: m.left + pw, y1: py(0), y2: py(0) }));
  opt.groups.forEach((group, gi) => {
    const start = m.left + gi * groupWidth + (groupWidth - barWidth * opt.series.length) / 2;
    opt.series.forEach((sr, si) => {
      const v = sr.values[gi];
      if (!isNum(v)) return;
      const x = start + si * barWidth;
      root.append(s('rect', {
        class: 'bar', x: x + 1, y: py(v), width: Math.max(1, barWidth - 2),
        height: Math.max(0, py(0) - py(v)), fill: sr.color,
      }, s('title', {}, `${sr.name}, ${group}: ${opt.yFormat(v)}`)));
      // Value labels only where a bar is wide enough to carry one legibly.
      if (barWidth >= 34) {
        root.append(s('text', { class: 'bar-label', x: x + barWidth / 2, y: py(v) - 4, 'text-anchor': 'middle' }, opt.yFormat(v)));
      }
    });
    root.append(s('text', {
      class: 'group-label', x: m.left + (gi + 0.5) * groupWidth, y: height - m.bottom + 17, 'text-anchor': 'middle',
    }, group));
  });
  return h('div', { class: 'chart-inner' }, root,
    legend(opt.series.map((sr) => ({ color: sr.color, label: sr.name }))));
}

/* ------------------------------------------------------------------ Overview page */

const EVENT_ORDER = ['view', 'click', 'add_to_cart', 'purchase', 'rating'];

async function overviewPage() {
  const stats = await api('/v1/stats/overview');
  const series = eventSeries(stats.events_per_day || []);
  const chart = { log: false };
  const box = chartBox((width) => lineChart({
    title: 'Events per day by type',
    series,
    xFormat: msToDay,
    yFormat: fmtCount,
    integer: true,
    log: chart.log,
    empty: 'No events recorded yet.',
  }, width));
  const logToggle = h('input', {
    type: 'checkbox', id: 'log-scale',
    onchange: (event) => {
      // Views dwarf purchases; a log scale lets the small series be read too.
      chart.log = event.target.checked;
      drawChart(box, true);
    },
  });
  const days = series.length ? series[0].points.length : 0;
  const revenue = revenueSeries(stats.events_per_day || []);
  const revenueBox = revenue ? chartBox((width) => lineChart({
    title: 'Revenue per day',
    series: [revenue],
    xFormat: msToDay,
    yFormat: fmtMoney,
    tickFormat: fmtCount,
    log: false,
    empty: 'No purchases recorded yet.',
  }, width)) : null;
  return h('div', {},
    h('h1', {}, 'Overview'),
    h('div', { class: 'cards' },
      statCard('Catalogue items', stats.items),
      statCard('Users', stats.users),
      statCard('Events', stats.events),
      statCard('Models', stats.models),
      revenue ? moneyCard('Revenue', stats.revenue) : null),
    card(
      h('div', { class: 'card-head' },
        h('h2', {}, 'Events per day by type'),
        days > 1 ? h('label', { class: 'toggle' }, logToggle, ' Log scale') : null),
      days ? h('p', { class: 'muted small' },
        `${msToDay(series[0].points[0].x)} to ${msToDay(series[0].points[days - 1].x)} · ${fmtCount(days)} ${days === 1 ? 'day' : 'days'}`) : null,
      box),
    revenue ? card(
      h('div', { class: 'card-head' }, h('h2', {}, 'Revenue per day')),
      h('p', { class: 'muted small' }, 'Purchases less returns: each event\'s value, or quantity × price.'),
      revenueBox) : null);
}

function moneyCard(label, value) {
  return h('div', { class: 'card stat' }, h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, fmtMoney(value)));
}

// Purchases' money less returns' per day, over every day from the first to the last dated
// event; null when no purchase carries any money (nothing worth a chart).
function revenueSeries(rows) {
  const byDay = new Map();
  let first = Infinity;
  let last = -Infinity;
  let any = false;
  for (const row of rows) {
    const x = dayToMs(row.day);
    if (x === null) continue;
    first = Math.min(first, x);
    last = Math.max(last, x);
    const sign = row.type === 'purchase' ? 1 : row.type === 'return' ? -1 : 0;
    if (!sign || !isNum(row.amount)) continue;
    if (row.type === 'purchase' && row.amount > 0) any = true;
    byDay.set(x, (byDay.get(x) || 0) + sign * row.amount);
  }
  if (!any) return null;
  const points = [];
  for (let x = first; x <= last && points.length < 4000; x += DAY_MS) points.push({ x, y: Math.max(0, byDay.get(x) || 0) });
  const total = [...byDay.values()].reduce((a, b) => a + b, 0);
  return { name: 'revenue', label: `revenue (${fmtMoney(total)})`, color: PALETTE[3 % PALETTE.length], points };
}

function statCard(label, value) {
  return h('div', { class: 'card stat' }, h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, fmtCount(value)));
}

// One series per event type over every day from the first to the last; a day missing from
// the answer had no events of that type, so it is drawn as zero rather than skipped.
function eventSeries(rows) {
  const byType = new Map();
  let first = Infinity;
  let last = -Infinity;
  for (const row of rows) {
    const x = dayToMs(row.day);
    if (x === null || !isNum(row.count)) continue;
    first = Math.min(first, x);
    last = Math.max(last, x);
    if (!byType.has(row.type)) byType.set(row.type, new Map());
    const counts = byType.get(row.type);
    counts.set(x, (counts.get(x) || 0) + row.count);
  }
  const days = [];
  for (let x = first; x <= last && days.length < 4000; x += DAY_MS) days.push(x);
  const rank = (type) => (EVENT_ORDER.includes(type) ? EVENT_ORDER.indexOf(type) : EVENT_ORDER.length);
  const types = [...byType.keys()].sort((a, b) => rank(a) - rank(b) || String(a).localeCompare(String(b)));
  return types.map((type, i) => {
    const counts = byType.get(type);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    return {
      name: type,
      label: `${type} (${fmtCount(total)})`,
      color: PALETTE[i % PALETTE.length],
      points: days.map((x) => ({ x, y: counts.get(x) || 0 })),
    };
  });
}

/* ------------------------------------------------------------------ Models page */

const HOLDOUT_CHART = [
  ['ndcg@10', 'ndcg'], ['precision@10', 'precision'], ['recall@10', 'recall'], ['hitrate@10', 'hit rate'],
];
const HOLDOUT_ALL = ['ndcg@10', 'precision@10', 'recall@10', 'hitrate@10', 'map@10', 'mrr@10', 'coverage@10'];

async function modelsPage() {
  const [data, tuned] = await Promise.all([api('/v1/models'), tryApi('/v1/tunings?limit=20')]);
  const serving = data.serving || [];
  const versions = (data.versions || []).slice()
    .sort((a, b) => (b.trained_at || 0) - (a.trained_at || 0) || (b.version || 0) - (a.version || 0));
  const tunings = (tuned.data && tuned.data.tunings) || [];
  return h('div', {},
    h('h1', {}, 'Models'),
    card(h('h2', {}, 'Serving'),
      serving.length ? tableWrap(servingTable(serving)) : muted('No model is serving yet: train one with POST /v1/admin/train.')),
    holdoutCard(newestPerName(versions.length ? versions : serving)),
    card(h('h2', {}, 'Tuning history'),
      h('p', { class: 'muted small' }, 'Settings chosen on a validation split of the shop\'s own events (aisle tune --db, or the server\'s tune setting); the newest of each model is what its trainings use.'),
      tuned.error ? errorBox(tuned.error, 'Could not load the tuning history.')
        : tunings.length ? tableWrap(tuningsTable(tunings)) : muted('No tuning yet: run aisle tune --db, POST /v1/admin/tune, or set tune = "weekly".')),
    card(h('h2', {}, 'All stored versions'),
      versions.length ? tableWrap(versionsTable(versions, serving)) : muted('No stored versions.')));
}

function tuningsTable(tunings) {
  const newest = new Set();
  return h('table', {},
    h('thead', {}, h('tr', {},
      h('th', {}, 'Chosen at'), h('th', {}, 'Model'), h('th', {}, 'Weighting'), h('th', {}, 'Metric'),
      h('th', { class: 'num' }, 'Validation'), h('th', { class: 'num' }, 'Defaults'), h('th', { class: 'num' }, 'Change'),
      h('th', { class: 'num' }, 'Trials'), h('th', { class: 'num' }, 'Time'), h('th', {}, 'Parameters'))),
    h('tbody', {}, tunings.map((t) => {
      const inUse = !newest.has(t.model);
      newest.add(t.model);
      const change = isNum(t.score) && isNum(t.default_score) && t.default_score !== 0
        ? (t.score - t.default_score) / Math.abs(t.default_score) : null;
      return h('tr', {},
        h('td', { class: 'nowrap' }, fmtDateTime(t.chosen_at)),
        h('td', {}, h('strong', {}, t.model), inUse ? h('span', { class: 'badge good', title: 'what the next trainings of this model use' }, 'newest') : null),
        h('td', {}, t.weighting || DASH),
        h('td', {}, t.metric || DASH),
        h('td', { class: 'num' }, fmtMetric(t.score)),
        h('td', { class: 'num' }, fmtMetric(t.default_score)),
        h('td', { class: 'num' }, change === null ? DASH : `${change >= 0 ? '+' : ''}${fmtPct(change)}`),
        h('td', { class: 'num' }, fmtCount(t.trials)),
        h('td', { class: 'num' }, fmtSeconds(t.seconds)),
        h('td', { class: 'wrap' }, paramsText(t.params)));
    })));
}

function servingTable(serving) {
  return h('table', {},
    h('thead', {}, h('tr', {},
      h('th', {}, 'Model'), h('th', { class: 'num' }, 'Version'), h('th', {}, 'Trained at'),
      h('th', { class: 'num' }, 'Fit time'), h('th', { class: 'num' }, 'Users × items'),
      h('th', { class: 'num' }, 'Interactions'), h('th', { class: 'num' }, 'Precomputed users'),
      h('th', {}, 'Weighting'), h('th', {}, 'Parameters'))),
    h('tbody', {}, serving.map((model) => {
      const metrics = model.metrics || {};
      return h('tr', {},
        h('td', {}, h('strong', {}, model.name), model.default ? h('span', { class: 'badge accent' }, 'default') : null),
        h('td', { class: 'num' }, fmtCount(model.version)),
        h('td', { class: 'nowrap' }, fmtDateTime(model.trained_at)),
        h('td', { class: 'num' }, fmtSeconds(metrics.fit_seconds)),
        h('td', { class: 'num nowrap' }, `${fmtCount(metrics.users)} × ${fmtCount(metrics.items)}`),
        h('td', { class: 'num' }, fmtCount(metrics.interactions)),
        h('td', { class: 'num' }, fmtCount(model.precomputed_users)),
        h('td', {}, metrics.weighting || DASH),
        h('td', { class: 'wrap' }, paramsText(model.params)));
    })));
}

function versionsTable(versions, serving) {
  const live = new Set(serving.map((m) => `${m.name}#${m.version}`));
  return h('table', {},
    h('thead', {}, h('tr', {},
      h('th', { class: 'num' }, 'Version'), h('th', {}, 'Model'), h('th', {}, 'Trained at'),
      h('th', { class: 'num' }, 'Size'), h('th', { class: 'num' }, 'Fit time'),
      h('th', { class: 'num' }, 'Users × items'), h('th', { class: 'num' }, 'Interactions'),
      h('th', { class: 'num' }, 'ndcg@10'), h('th', {}, 'Parameters'))),
    h('tbody', {}, versions.map((v) => {
      const metrics = v.metrics || {};
      const holdout = metrics.holdout || {};
      return h('tr', {},
        h('td', { class: 'num' }, fmtCount(v.version)),
        h('td', {}, h('strong', {}, v.name), live.has(`${v.name}#${v.version}`) ? h('span', { class: 'badge good' }, 'serving') : null),
        h('td', { class: 'nowrap' }, fmtDateTime(v.trained_at)),
        h('td', { class: 'num nowrap', title: isNum(v.size) ? `${fmtCount(v.size)} bytes` : null }, fmtBytes(v.size)),
        h('td', { class: 'num' }, fmtSeconds(metrics.fit_seconds)),
        h('td', { class: 'num nowrap' }, `${fmtCount(metrics.users)} × ${fmtCount(metrics.items)}`),
        h('td', { class: 'num' }, fmtCount(metrics.interactions)),
        h('td', { class: 'num' }, fmtMetric(holdout['ndcg@10'])),
        h('td', { class: 'wrap' }, paramsText(v.params)));
    })));
}

function paramsText(params) {
  const entries = Object.entries(params || {});
  if (!entries.length) return DASH;
  const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
  return h('code', { class: 'params' }, entries.map(([k, v]) => `${k}=${show(v)}`).join(', '));
}

// The newest version of each model name (by training time, then version number).
function newestPerName(models) {
  const newest = new Map();
  for (const model of models) {
    const seen = newest.get(model.name);
    if (!seen || (model.trained_at || 0) > (seen.trained_at || 0) ||
      ((model.trained_at || 0) === (seen.trained_at || 0) && (model.version || 0) > (seen.version || 0))) {
      newest.set(model.name, model);
    }
  }
  return [...newest.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

function holdoutCard(newest) {
  const title = 'Holdout metrics at 10, newest version of each model';
  const withHoldout = newest.filter((m) => m.metrics && m.metrics.holdout &&
    HOLDOUT_ALL.some((k) => isNum(m.metrics.holdout[k])));
  if (!withHoldout.length) {
    return card(h('h2', {}, 'Holdout metrics'),
      muted('No model has holdout metrics yet: they are measured when a model is trained with a holdout split.'));
  }
  const missing = newest.filter((m) => !withHoldout.includes(m)).map((m) => m.name);
  const series = withHoldout.map((m, i) => ({
    name: `${m.name} v${m.version}`,
    color: PALETTE[i % PALETTE.length],
    values: HOLDOUT_CHART.map(([key]) => m.metrics.holdout[key]),
  }));
  return card(h('h2', {}, title),
    missing.length ? muted(`Without holdout metrics: ${missing.join(', ')}.`) : null,
    chartBox((width) => barChart({ title, groups: HOLDOUT_CHART.map(([, label]) => label), series, yFormat: fmtMetric }, width)),
    tableWrap(h('table', { class: 'compact' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Model'), HOLDOUT_ALL.map((k) => h('th', { class: 'num' }, k)))),
      h('tbody', {}, withHoldout.map((m) => h('tr', {},
        h('td', {}, `${m.name} v${m.version}`),
        HOLDOUT_ALL.map((k) => h('td', { class: 'num' }, fmtMetric(m.metrics.holdout[k])))))))));
}

/* ------------------------------------------------------------------ Experiments page */

const REFRESH_MS = 10000;
let refreshTimer = null;

function stopRefresh() {
  if (refreshTimer !== null) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function experimentsPage(ctx) {
  const list = (await api('/v1/experiments')).experiments || [];
  if (!list.length) return h('div', {}, h('h1', {}, 'Experiments'), noExperiments());
  const wanted = ctx.params.get('name');
  const selected = list.find((e) => e.name === wanted) ||
    list.find((e) => e.status === 'running') || list[0];
  const path = `/v1/experiments/${enc(selected.name)}/results`;
  const first = await tryApi(path);
  const results = h('div', { class: 'exp-results' },
    first.data ? experimentResults(selected, first.data) : errorBox(first.error, 'Could not load the results.'));
  const status = h('p', { class: 'muted small refresh-note', 'aria-live': 'polite' },
    `Refreshes every 10 s while this page is open · updated ${fmtClock(new Date())}`);

  // Re-fetch only the results; the page stays ready ("1") throughout.
  let busy = false;
  const timer = setInterval(() => safely(async () => {
    if (!ctx.current()) {
      clearInterval(timer); // a render the visitor already left must not keep polling
      return;
    }
    if (busy || document.hidden) return;
    busy = true;
    try {
      const next = await api(path);
      if (!ctx.current()) return;
      replaceContent(results, experimentResults(selected, next));
      status.textContent = `Refreshes every 10 s while this page is open · updated ${fmtClock(new Date())}`;
    } catch (error) {
      if (!ctx.current()) return;
      if (isAuthError(error)) {
        stopRefresh();
        replaceContent(document.getElementById('page'), keyForm(error));
      } else {
        status.textContent = `Refresh failed at ${fmtClock(new Date())}: ${error.message}. Showing the last results.`;
      }
    } finally {
      busy = false;
      if (ctx.current()) markReady();
    }
  }), REFRESH_MS);
  refreshTimer = timer;

  return h('div', {},
    h('div', { class: 'page-head' }, h('h1', {}, 'Experiments'), list.length > 1 ? experimentPicker(list, selected) : null),
    status,
    results,
    list.length > 1 ? card(h('h2', {}, 'All experiments'), tableWrap(experimentsTable(list, selected))) : null);
}

function experimentPicker(list, selected) {
  return h('label', { class: 'picker' }, 'Experiment ',
    h('select', {
      id: 'experiment-select',
      onchange: (event) => navigate(`#experiments?name=${enc(event.target.value)}`),
    }, list.map((e) => h('option', { value: e.name, selected: e.name === selected.name }, `${e.name} (${e.status})`))));
}

function experimentsTable(list, selected) {
  return h('table', { class: 'compact' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Created'),
      h('th', {}, 'Stopped'), h('th', {}, 'Variants'))),
    h('tbody', {}, list.map((e) => h('tr', { class: e.name === selected.name ? 'selected' : null },
      h('td', {}, h('a', { href: `#experiments?name=${enc(e.name)}` }, e.name)),
      h('td', {}, statusBadge(e.status)),
      h('td', { class: 'nowrap' }, fmtDateTime(e.created_at)),
      h('td', { class: 'nowrap' }, fmtDateTime(e.stopped_at)),
      h('td', {}, (e.variants || []).map((v) => `${v.name}: ${v.model} (${fmtPct(v.share)})`).join(', '))))));
}

function statusBadge(status) {
  return h('span', { class: `badge ${status === 'running' ? 'good' : 'neutral'}` }, status || 'unknown');
}

function noExperiments() {
  // The example body from the API docs, one variant a line so it reads at a glance.
  const body = '{"name": "ab1", "variants": [\n' +
    '    {"name": "control", "model": "popular", "share": 0.5},\n' +
    '    {"name": "cf", "model": "als", "share": 0.5}]}';
  const keyHeader = storedKey() ? " \\\n  -H 'X-Api-Key: YOUR_WRITE_KEY'" : '';
  const command = `curl -X POST ${location.origin}/v1/experiments \\\n` +
    `  -H 'Content-Type: application/json'${keyHeader} \\\n  -d '${body}'`;
  return card(h('h2', {}, 'No experiments yet'),
    h('p', {}, 'An experiment splits users between models and compares their clicks, conversions and revenue. ',
      'Start one with ', h('code', {}, 'POST /v1/experiments'), ' and a body like this:'),
    h('pre', {}, h('code', {}, command)),
    muted('Each variant names a serving model and the share of users it gets. Results appear here once lists are served and shoppers act on them.'));
}

// Columns of the variants table: header, main value, the muted line under it, and a tooltip.
// Add-to-cart and purchase counts ride along under their rates so the table fits a laptop.
const VARIANT_COLUMNS = [
  { title: 'Impressions', value: (v) => fmtCount(v.impressions), sub: (v) => (isNum(v.lists) ? `in ${fmtCount(v.lists)} lists` : null) },
  { title: 'Clicks', value: (v) => fmtCount(v.clicks) },
  { title: 'CTR', value: (v) => fmtPct(v.ctr), sub: (v) => ciText(v.ctr_ci, fmtPct) },
  { title: 'Add-to-cart rate', value: (v) => fmtPct(v.add_to_cart_rate), sub: (v) => ciText(v.add_to_cart_rate_ci, fmtPct), hint: (v) => `${fmtCount(v.add_to_carts)} add-to-carts` },
  { title: 'Conversion rate', value: (v) => fmtPct(v.conversion_rate), sub: (v) => ciText(v.conversion_rate_ci, fmtPct), hint: (v) => `${fmtCount(v.purchases)} purchases` },
  { title: 'Revenue', value: (v) => fmtMoney(v.revenue), sub: (v) => (isNum(v.purchases) ? `${fmtCount(v.purchases)} purchases` : null) },
  { title: 'Revenue per 1,000 impressions', value: (v) => fmtMoney(v.revenue_per_1000), sub: (v) => ciText(v.revenue_per_1000_ci, fmtMoney) },
  { title: 'CTR lift vs control', value: (v) => (v.vs_control ? fmtLift(v.vs_control.ctr_lift) : DASH), sub: (v) => (v.vs_control ? fmtP(v.vs_control.ctr_p_value) : null) },
  { title: 'Conversion lift vs control', value: (v) => (v.vs_control ? fmtLift(v.vs_control.conversion_lift) : DASH), sub: (v) => (v.vs_control ? fmtP(v.vs_control.conversion_p_value) : null) },
];

const VERDICTS = {
  control: ['control', 'neutral'],
  better: ['better', 'good'],
  worse: ['worse', 'bad'],
  no_difference: ['no difference', 'neutral'],
  not_enough_data: ['not enough data', 'neutral'],
};

function verdictBadge(verdict) {
  const [label, tone] = VERDICTS[verdict] || [verdict || 'unknown', 'neutral'];
  return h('span', { class: `badge ${tone}` }, label);
}

// Green only when some variant beats control and none loses; red for the reverse; grey for
// everything else (no difference, too little data, or a mixed result).
function overallTone(results) {
  const verdicts = (results.variants || []).map((v) => v.vs_control && v.vs_control.verdict);
  const better = verdicts.includes('better');
  const worse = verdicts.includes('worse');
  if (better && !worse) return 'good';
  if (worse && !better) return 'bad';
  return 'neutral';
}

function experimentResults(experiment, results) {
  const variants = results.variants || [];
  const colors = new Map(variants.map((v, i) => [v.name, PALETTE[i % PALETTE.length]]));
  const shares = new Map((experiment.variants || []).map((v) => [v.name, v.share]));
  const summaries = variants.map((v) => v.vs_control && v.vs_control.summary).filter(Boolean);
  const meta = [
    `control: ${results.control || experiment.control || DASH}`,
    `started ${fmtDateTime(experiment.created_at)}`,
    experiment.stopped_at ? `stopped ${fmtDateTime(experiment.stopped_at)}` : null,
    isNum(results.window_hours) ? `attribution window ${fmtCount(results.window_hours)} h` : null,
  ].filter(Boolean).join(' · ');
  return h('div', {},
    h('div', { class: `verdict ${overallTone(results)}` },
      h('div', { class: 'verdict-name' }, results.name || experiment.name, ' ', statusBadge(results.status || experiment.status)),
      h('p', { class: 'verdict-text' }, results.verdict || 'No verdict yet.'),
      h('p', { class: 'small' }, meta)),
    card(h('h2', {}, 'Variants'),
      variants.length ? [
        tableWrap(variantsTable(variants, colors, shares)),
        h('p', { class: 'muted small' }, 'Under each rate: its 95% confidence interval. Under each lift: its p-value against control.'),
      ] : muted('No variant results yet.'),
      summaries.length ? h('ul', { class: 'summaries' }, summaries.map((text) => h('li', {}, text))) : null),
    h('div', { class: 'chart-grid' },
      dailyChartCard('CTR per day', results.days, colors, 'ctr', 'ctr_ci'),
      dailyChartCard('Conversion rate per day', results.days, colors, 'conversion_rate', 'conversion_rate_ci')));
}

function variantsTable(variants, colors, shares) {
  return h('table', { class: 'variants' },
    h('thead', {}, h('tr', {}, h('th', { class: 'sticky' }, 'Variant'),
      VARIANT_COLUMNS.map((col) => h('th', { class: 'num' }, col.title)), h('th', {}, 'Verdict'))),
    h('tbody', {}, variants.map((v) => {
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = colors.get(v.name);
      const share = shares.get(v.name);
      return h('tr', {},
        h('th', { class: 'sticky', scope: 'row' }, swatch, h('strong', {}, v.name),
          h('div', { class: 'sub' }, [v.model, isNum(share) ? `${fmtPct(share)} of users` : null].filter(Boolean).join(' · '))),
        VARIANT_COLUMNS.map((col) => {
          const sub = col.sub && col.sub(v);
          return h('td', { class: 'num', title: col.hint ? col.hint(v) : null },
            h('div', {}, col.value(v)), sub ? h('div', { class: 'sub' }, sub) : null);
        }),
        h('td', {}, verdictBadge(v.vs_control ? v.vs_control.verdict : 'control')));
    })));
}

function dailyChartCard(title, days, colors, key, ciKey) {
  const byVariant = new Map([...colors.keys()].map((name) => [name, []]));
  for (const day of days || []) {
    const x = dayToMs(day.day);
    if (x === null) continue;
    for (const v of day.variants || []) {
      if (!byVariant.has(v.name)) byVariant.set(v.name, []);
      const ci = v[ciKey] || [];
      byVariant.get(v.name).push({ x, y: v[key], lo: ci[0], hi: ci[1] });
    }
  }
  const series = [...byVariant.entries()].map(([name, points], i) => ({
    name, points, color: colors.get(name) || PALETTE[i % PALETTE.length],
  }));
  const single = new Set((days || []).map((d) => d.day)).size === 1;
  return card(h('h2', {}, title),
    muted(single ? 'One day so far: bars show the 95% confidence interval.' : 'Shaded: 95% confidence interval.'),
    chartBox((width) => lineChart({
      title, series, xFormat: msToDay, yFormat: fmtPct, tickFormat: fmtPctTick, empty: 'No daily data yet.',
    }, width)));
}

/* ------------------------------------------------------------------ Explore page */

const itemCache = new Map(); // item id -> item (or {item_id, title}); null when unknown (404)

const EVENT_VERBS = {
  view: 'viewed', purchase: 'bought', add_to_cart: 'added to cart',
  click: 'clicked', rating: 'rated', history: 'chose',
};

function titleOf(id) {
  const item = itemCache.get(id);
  return (item && item.title) || id;
}

function rememberTitle(id, title) {
  if (id && title && !itemCache.get(id)) itemCache.set(id, { item_id: id, title });
}

// Fetches the items not seen yet, once each; a 404 is remembered so the bare id is shown.
async function loadItems(ids) {
  const wanted = [...new Set(ids.filter((id) => id && !itemCache.has(id)))];
  await Promise.all(wanted.map(async (id) => {
    const answer = await tryApi(`/v1/items/${enc(id)}`);
    if (answer.data) itemCache.set(id, answer.data);
    else if (answer.error.status === 404) itemCache.set(id, null);
  }));
}

function idsIn(list) {
  return ((list && list.items) || []).flatMap((r) => [r.item_id, r.reason && r.reason.item_id]);
}

function reasonText(reason) {
  if (!reason || !reason.kind) return '';
  switch (reason.kind) {
    case 'similar_to': {
      const verb = EVENT_VERBS[reason.event];
      const title = titleOf(reason.item_id);
      return verb ? `because they ${verb} ${title}` : `because of their ${reason.event || 'interest'} on ${title}`;
    }
    case 'collaborative': return 'liked by similar shoppers';
    case 'popular': return 'popular';
    case 'popular_in_category': return `popular in ${reason.category}`;
    case 'trending': return 'trending';
    case 'similar_item': return `similar to ${titleOf(reason.item_id)}`;
    case 'bought_before': return `bought ${fmtCount(reason.units)} before, last ${fmtDateTime(reason.last)}`;
    case 'bought_with': return `bought with ${titleOf(reason.item_id)}`;
    case 'pinned': return 'pinned by a placement rule';
    default: return reason.kind.replace(/_/g, ' ');
  }
}

function exploreHash(user, item, placement, why) {
  const params = new URLSearchParams();
  if (user) params.set('user', user);
  if (item) params.set('item', item);
  if (placement) params.set('placement', placement);
  if (why) params.set('why', why);
  const query = params.toString();
  return query ? `#explore?${query}` : '#explore';
}

async function explorePage(ctx) {
  const user = (ctx.params.get('user') || '').trim();
  const item = (ctx.params.get('item') || '').trim();
  const placement = (ctx.params.get('placement') || '').trim();
  const why = (ctx.params.get('why') || '').trim();
  const [models, users, items, placements] = await Promise.all([
    tryApi('/v1/models'), tryApi('/v1/users?limit=8'), tryApi('/v1/items?limit=8'), tryApi('/v1/placements'),
  ]);
  const placementNames = ((placements.data && placements.data.placements) || []).map((p) => p.name);
  for (const it of (items.data && items.data.items) || []) itemCache.set(it.item_id, it);
  const modelNames = ((models.data && models.data.serving) || []).map((m) => m.name);
  // Recommendations are asked for here only: on submit or a hash load, never per keystroke.
  const [placementView, userView, itemView] = await Promise.all([
    placement ? placementSection(placement, user, item, why) : null,
    user ? userSection(user, modelNames, models.error) : null,
    item ? itemSection(item, user) : null,
  ]);
  return h('div', {},
    h('h1', {}, 'Explore'),
    exploreForm(user, item, users, items, placement, placementNames),
    placementView,
    userView,
    itemView,
    !user && !item && !placement ? muted('Enter a user id to see their history and recommendations from each serving model, an item id to see similar items, or pick a placement to see its list with what each rule did, and ask why an item is (not) in it.') : null);
}

function exploreForm(user, item, users, items, placement, placementNames) {
  const userInput = h('input', { id: 'explore-user', name: 'user', value: user, placeholder: 'e.g. u1', autocomplete: 'off', spellcheck: 'false' });
  const itemInput = h('input', { id: 'explore-item', name: 'item', value: item, placeholder: 'e.g. i5', autocomplete: 'off', spellcheck: 'false' });
  const placementSelect = h('select', { id: 'explore-placement', name: 'placement' },
    h('option', { value: '' }, '(none)'),
    placementNames.map((name) => h('option', { value: name, selected: name === placement ? 'selected' : null }, name)));
  const go = () => navigate(exploreHash(userInput.value.trim(), itemInput.value.trim(), placementSelect.value));
  const examples = (label, answer, key, input) => {
    const list = (answer.data && answer.data[key]) || [];
    if (!list.length) return null;
    const idKey = key === 'users' ? 'user_id' : 'item_id';
    return h('div', { class: 'examples' }, h('span', { class: 'muted small' }, label),
      list.map((entry) => h('button', {
        type: 'button', class: 'chip', title: entry.title || null,
        onclick: () => {
          input.value = entry[idKey];
          go();
        },
      }, entry[idKey])));
  };
  return h('form', {
    class: 'card explore-form',
    onsubmit: (event) => {
      event.preventDefault();
      go();
    },
  },
  h('div', { class: 'fields' },
    h('label', { for: 'explore-user' }, 'User id', userInput),
    h('label', { for: 'explore-item' }, 'Item id', itemInput),
    placementNames.length ? h('label', { for: 'explore-placement' }, 'Placement', placementSelect) : null,
    h('button', { type: 'submit' }, 'Show')),
  examples('Example users:', users, 'users', userInput),
  examples('Example items:', items, 'items', itemInput));
}

async function userSection(user, modelNames, modelsError) {
  const base = `/v1/users/${enc(user)}`;
  // Without the model list, ask once for the server's default model.
  const names = modelNames.length ? modelNames : [null];
  const [history, again, ...lists] = await Promise.all([
    tryApi(`${base}/history?n=30`),
    tryApi(`${base}/buy-again?n=10`),
    ...names.map((name) => tryApi(`${base}/recommendations?n=10${name ? `&model=${enc(name)}` : ''}`)),
  ]);
  // History answers carry titles already; only the rest is fetched.
  for (const ev of (history.data && history.data.events) || []) rememberTitle(ev.item_id, ev.title);
  await loadItems([...lists, again].flatMap((l) => idsIn(l.data)));
  // Buy again only for shoppers who bought something: an empty list says nothing.
  const buysAgain = again.data && again.data.items && again.data.items.length;
  return h('section', { class: 'explore-user' },
    h('h2', {}, 'User ', h('code', {}, user)),
    modelsError ? errorBox(modelsError, 'Could not list the serving models; showing the default model.') : null,
    h('div', { class: 'rec-grid' },
      historyColumn(history, user),
      buysAgain ? recColumn('Buy again', again, user) : null,
      names.map((name, i) => recColumn(name, lists[i], user))));
}

function historyColumn(answer, user) {
  const head = h('h3', {}, 'Recent history');
  if (answer.error) {
    return h('div', { class: 'card column history' }, head,
      answer.error.status === 404 ? muted('Unknown user.') : errorBox(answer.error, 'Could not load the history.'));
  }
  const events = answer.data.events || [];
  return h('div', { class: 'card column history' }, head,
    events.length ? h('ol', { class: 'history-list' }, events.map((ev) => h('li', {},
      h('div', {}, h('a', { href: exploreHash(user, ev.item_id) }, ev.title || titleOf(ev.item_id)),
        ' ', h('span', { class: `badge ev ev-${String(ev.type).replace(/[^a-z0-9_-]/gi, '')}` }, ev.type)),
      h('div', { class: 'sub' }, fmtDateTime(ev.timestamp),
        isNum(ev.value) ? ` · ${ev.type === 'rating' ? ev.value : fmtMoney(ev.value)}` : '',
        ' · ', h('code', {}, ev.item_id)))))
      : muted('No events yet.'));
}

function recColumn(name, answer, user) {
  const title = name || 'Default model';
  if (answer.error) {
    return h('div', { class: 'card column' }, h('h3', {}, title), errorBox(answer.error, 'Could not load recommendations.'));
  }
  const list = answer.data;
  const version = isNum(list.model_version) ? ` v${list.model_version}` : '';
  // Name the model that answered when it is not the one asked for (a fallback, say).
  const servedBy = list.model && list.model !== name ? `served by ${list.model}${version}` : version.trim();
  return h('div', { class: 'card column' },
    h('h3', {}, title, ' ', h('span', { class: 'muted small' }, servedBy)),
    list.fallback ? h('p', { class: 'note fallback' }, 'not personalised (popular fallback)') : null,
    list.experiment ? h('p', { class: 'note' }, `in experiment ${experimentLabel(list.experiment)}`) : null,
    recList(list.items, user));
}

function experimentLabel(experiment) {
  if (typeof experiment === 'string') return experiment;
  return [experiment.name, experiment.variant].filter(Boolean).join(', variant ');
}

function recList(items, user) {
  if (!items || !items.length) return muted('No recommendations.');
  return h('ol', { class: 'rec-list' }, items.map((rec) => h('li', { class: 'rec-item' },
    h('div', { class: 'rec-main' },
      h('a', { href: exploreHash(user, rec.item_id) }, titleOf(rec.item_id)),
      ' ', h('code', { class: 'id' }, rec.item_id),
      h('div', { class: 'reason' }, reasonText(rec.reason))),
    h('span', { class: 'score', title: 'score' }, fmtScore(rec.score)))));
}

async function placementSection(name, user, item, why) {
  const query = new URLSearchParams();
  if (user) query.set('user_id', user);
  if (item) query.set('item_id', item);
  const base = `/v1/placements/${enc(name)}`;
  const [preview, explained] = await Promise.all([
    tryApi(`${base}/preview?${query}`),
    why ? tryApi(`${base}/explain?${query}&candidate=${enc(why)}`) : null,
  ]);
  if (preview.data) await loadItems(preview.data.items.map((i) => i.item_id));
  let listView;
  if (preview.error) {
    listView = errorBox(preview.error, 'Could not preview the placement.');
  } else {
    const list = preview.data;
    listView = h('div', { class: 'card column placement-preview' },
      h('p', { class: 'muted small' }, `served by ${list.model} v${list.model_version}`,
        list.experiment ? ` · in experiment ${experimentLabel(list.experiment)}` : ''),
      list.fallback ? h('p', { class: 'note fallback' }, 'not personalised (the fallback chain answered)') : null,
      list.items.length ? h('ol', { class: 'rec-list' }, list.items.map((rec) => h('li', { class: 'rec-item' },
        h('div', { class: 'rec-main' },
          h('a', { href: exploreHash(user, item, name, rec.item_id) }, titleOf(rec.item_id)),
          ' ', h('code', { class: 'id' }, rec.item_id),
          h('div', { class: 'reason' }, reasonText(rec.reason)),
          rec.rules.map((r) => h('div', { class: 'rule-effect' }, h('code', {}, r.rule), ' ', r.effect))),
        h('span', { class: 'score', title: 'score' }, fmtScore(rec.score)))))
        : muted('The placement gives no items for this page.'));
  }
  return h('section', { class: 'explore-placement' },
    h('h2', {}, 'Placement ', h('code', {}, name), user ? [' for ', h('code', {}, user)] : null),
    h('div', { class: 'rec-grid' }, listView, whyBox(name, user, item, why, explained)));
}

function whyBox(name, user, item, why, explained) {
  const input = h('input', { id: 'why-item', name: 'why', value: why, placeholder: 'an item id', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', {
    class: 'why-form',
    onsubmit: (event) => {
      event.preventDefault();
      navigate(exploreHash(user, item, name, input.value.trim()));
    },
  }, h('label', { for: 'why-item' }, 'Why (not) item', input), h('button', { type: 'submit' }, 'Explain'));
  let answer = null;
  if (explained && explained.error) {
    answer = errorBox(explained.error, 'Could not explain.');
  } else if (explained) {
    const e = explained.data;
    answer = h('div', { class: 'why-answer' },
      h('p', {}, h('strong', {}, titleOf(e.candidate)), ' ', h('code', {}, e.candidate), ': ', e.reason),
      h('p', { class: 'muted small' },
        e.in_list ? `position ${e.position} · score ${fmtScore(e.score)}` : 'not in the list',
        ` · rank before rules: ${isNum(e.rank_before_rules) ? e.rank_before_rules : 'beyond 1000'}`),
      e.rules.length ? h('ul', { class: 'rule-effects' }, e.rules.map((r) => h('li', {}, h('code', {}, r.rule), ' ', r.effect)))
        : muted('No rule acted on it.'));
  }
  return h('div', { class: 'card column why' }, h('h3', {}, 'Why is an item (not) shown?'), form, answer);
}

async function itemSection(item, user) {
  const base = `/v1/items/${enc(item)}`;
  const [info, similar] = await Promise.all([tryApi(base), tryApi(`${base}/similar?n=10`)]);
  if (info.data) itemCache.set(item, info.data);
  else if (info.error.status === 404) itemCache.set(item, null);
  if (similar.data) await loadItems(idsIn(similar.data));
  const details = info.data
    ? [(info.data.categories || []).join(', '), isNum(info.data.price) ? fmtMoney(info.data.price) : null,
      info.data.available === false ? 'not available' : null].filter(Boolean).join(' · ')
    : null;
  return h('section', { class: 'explore-item' },
    h('h2', {}, 'Similar to ', info.data ? `${info.data.title || item} ` : '', h('code', {}, item)),
    info.error && info.error.status !== 404 ? errorBox(info.error, 'Could not load the item.') : null,
    h('div', { class: 'card column' },
      details ? h('p', { class: 'muted small' }, details) : null,
      similar.error
        ? (similar.error.status === 404 ? muted('Unknown item.') : errorBox(similar.error, 'Could not load similar items.'))
        : recList(similar.data.items, user)));
}

/* ------------------------------------------------------------------ Router */

const PAGES = {
  overview: ['Overview', overviewPage],
  models: ['Models', modelsPage],
  experiments: ['Experiments', experimentsPage],
  explore: ['Explore', explorePage],
};

let navSeq = 0;
let routedHref = '';

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const name = (q < 0 ? raw : raw.slice(0, q)) || 'overview';
  return { name: PAGES[name] ? name : 'overview', params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

function navigate(hash) {
  // pushState does not fire hashchange, so the route runs exactly once, even when the hash
  // is unchanged (submitting the same ids again reloads them).
  if (hash !== location.hash) history.pushState(null, '', hash);
  route();
}

function markReady() {
  document.body.dataset.ready = '1';
}

async function route() {
  const seq = ++navSeq;
  routedHref = location.href;
  stopRefresh();
  document.body.dataset.ready = '0';
  const { name, params } = parseHash();
  const [label, render] = PAGES[name];
  document.title = `${label} · Aisle`;
  document.querySelectorAll('nav a[data-page]').forEach((a) => {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const main = document.getElementById('page');
  // A page answering after the visitor moved on is dropped.
  const ctx = { params, current: () => seq === navSeq };
  replaceContent(main, h('p', { class: 'loading muted' }, 'Loading…'));
  let node;
  try {
    node = await render(ctx);
  } catch (error) {
    if (!ctx.current()) return;
    stopRefresh();
    node = isAuthError(error) ? keyForm(error) : errorBox(error);
  }
  if (!ctx.current()) return;
  try {
    replaceContent(main, node);
  } catch (error) {
    replaceContent(main, errorBox(error, 'Could not draw this page.'));
  }
  markReady();
}

// Runs a callback (sync or async) so that a bug shows as an error box, not a console message.
function safely(fn) {
  try {
    const result = fn();
    if (result && typeof result.catch === 'function') result.catch(showUnexpected);
  } catch (error) {
    showUnexpected(error);
  }
}

function showUnexpected(error) {
  const main = document.getElementById('page');
  if (main) main.prepend(errorBox(error, 'Something went wrong.'));
  markReady();
}

function start() {
  document.getElementById('forget-key').addEventListener('click', () => {
    saveKey('');
    route();
  });
  updateKeyButton();
  const onLocation = () => {
    if (location.href !== routedHref) route();
  };
  window.addEventListener('hashchange', onLocation);
  window.addEventListener('popstate', onLocation);
  // Last resort: an uncaught error is shown in the page and kept off the console.
  window.addEventListener('error', (event) => {
    event.preventDefault();
    // Browsers report a benign ResizeObserver notice through this event; it is no failure.
    if (/ResizeObserver loop/.test(String(event.message))) return;
    showUnexpected(event.error || event.message);
  });
  window.addEventListener('unhandledrejection', (event) => {
    event.preventDefault();
    showUnexpected(event.reason);
  });
  route();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
})();
