// The dashboard: per flag, a card per arm with every configured metric (green, amber or red
// against its goal and warning sign), a chart per metric with its threshold lines (uPlot), the
// guards and the last automatic decisions; refreshed when the operators' event stream says the
// flag's stats, plan or audit log changed (every 5 s while the stream is down). Nothing here names a metric:
// everything comes from the flag set's `metrics` as the stats API returns them.
// Reads the admin API through www/js/admin-api.js (the token kept in this tab).
'use strict';

const $ = (sel) => document.querySelector(sel);
const { signInError, token, when } = window.PilotAdmin;
const POLL_MS = 5000;
const COLORS = ['#1f5fbf', '#d97706', '#7c3aed', '#059669'];
const charts = {};
let timer = null;
let watching = null;
let mode = 'polling';
let updated = null;

/** GET `/api/admin{route}`: its body. */
const api = async (route) => (await window.PilotAdmin.api('GET', route)).body;

const pct = (x) => (x === null || x === undefined ? null : x * 100);
const fmt = (x, unit, digits = 1) => (x === null || x === undefined ? '—' : `${x.toFixed(digits)}${unit}`);
/** The card class of a metric's standing against its goal and warning sign. */
const STANDING_CLASS = { green: 'ok', amber: 'warn', red: 'bad', unknown: 'na' };
const STANDING_NOTE = { green: '', amber: ' (below goal)', red: ' (warning)', unknown: '' };

/** A value of a metric for display: ms shown in seconds, proportions in percent. */
function shown(def, x) {
  if (x === null || x === undefined) return null;
  if (def.kind === 'proportion') return x * 100;
  return def.unit === 'ms' ? x / 1000 : x;
}
const unitOf = (def) => (def.kind === 'proportion' ? ' %' : def.unit === 'ms' ? ' s' : def.unit ? ` ${def.unit}` : '');

/** The quantiles a quantile metric shows: those its goal and warning sign name, else p50 and p90. */
function quantilesOf(def) {
  const named = new Set([...Object.keys(def.goal ?? {}), ...Object.keys(def.warn ?? {})]);
  const list = named.size ? [...named] : ['p50', 'p90'];
  return list.sort((a, b) => parseFloat(a.slice(1)) - parseFloat(b.slice(1)));
}

/** The text of one metric on one arm. */
function metricText(def, m) {
  if (!m) return '—';
  const u = unitOf(def);
  if (def.kind === 'quantile') {
    return quantilesOf(def).map((q) => `${q} ${fmt(shown(def, m.quantiles?.[q]), u, 2)}`).join(' · ');
  }
  if (def.kind === 'proportion') {
    const ci = m.interval ? ` (${fmt(pct(m.interval[0]), '')}–${fmt(pct(m.interval[1]), ' %')})` : '';
    return `${fmt(shown(def, m.value), u)}${ci} of ${m.units}`;
  }
  return `${fmt(shown(def, m.value), u, 2)} over ${m.units}`;
}

/** A threshold's conditions as [label suffix, op, bound] (a quantile metric's per quantile). */
function conditions(threshold) {
  if (!threshold) return [];
  if (typeof threshold === 'string') return [['', ...threshold.split(' ')]];
  return Object.entries(threshold).map(([q, c]) => [`${q} `, ...c.split(' ')]);
}

function row(name, text, cls, title) {
  const r = document.createElement('div');
  r.className = `kpi ${cls}`;
  r.dataset.metric = name;
  if (title) r.title = title;
  const label = document.createElement('span');
  label.textContent = name;
  const value = document.createElement('b');
  value.textContent = text;
  r.append(label, value);
  return r;
}

function renderCards(stats) {
  const cards = $('#cards');
  cards.replaceChildren();
  const arms = Object.keys(stats.arms).sort((a, b) => (a === stats.pilot ? -1 : b === stats.pilot ? 1 : a.localeCompare(b)));
  if (!arms.length) {
    cards.textContent = 'No visitors yet in this window.';
    return;
  }
  const defs = stats.metrics ?? {};
  const errorMetric = Object.values(defs).some((d) => d.numerator === '$error' && d.denominator === '$exposure');
  for (const arm of arms) {
    const a = stats.arms[arm];
    const card = document.createElement('article');
    card.className = 'arm';
    card.dataset.arm = arm;
    const h = document.createElement('h3');
    const role = arm === stats.pilot ? 'pilot' : arm === stats.control ? 'control' : 'arm';
    h.textContent = `${arm} (${role}) · ${a.exposures} visitors`;
    card.append(h);
    if (!errorMetric) {
      card.append(row('errors', `${fmt(pct(a.errorRate), ' %')} of ${a.exposures}`, 'na', 'Visitors with an error (what the guards read)'));
    }
    for (const [name, def] of Object.entries(defs)) {
      const m = a.metrics?.[name];
      const standing = m?.standing ?? 'unknown';
      const goals = [...conditions(def.goal).map((c) => `goal ${c.join(' ').trim()}`), ...conditions(def.warn).map((c) => `warn ${c.join(' ').trim()}`)];
      const title = [def.description, goals.join(', ')].filter(Boolean).join('. ');
      const r = row(name, metricText(def, m), STANDING_CLASS[standing], title);
      r.dataset.standing = standing;
      r.querySelector('span').textContent = `${name}${STANDING_NOTE[standing]}`;
      card.append(r);
    }
    cards.append(card);
  }
}

/** One uPlot chart: `lines` are [label, fn(arm's figures) -> number|null, dash], one series per arm; `limits` [label, y, color] constant lines. */
function renderChart(id, stats, lines, limits) {
  const el = $(`#${id}`);
  const arms = Object.keys(stats.arms).sort();
  // The whole window on the x axis (its ends carry only the threshold lines).
  const points = stats.series.points;
  const from = stats.fromMinute * 60;
  const to = (stats.toMinute + 1) * 60;
  const xs = [from, ...points.map((p) => p.minute * 60), to];
  const data = [xs];
  const series = [{}];
  arms.forEach((arm, i) => {
    for (const [label, f, dash] of lines) {
      data.push([null, ...points.map((p) => (p.arms[arm] ? f(p.arms[arm]) : null)), null]);
      series.push({ label: `${arm} ${label}`, stroke: COLORS[i % COLORS.length], width: 2, dash, spanGaps: true, points: { show: true, size: 4 } });
    }
  });
  for (const [label, y, color] of limits) {
    data.push(xs.map(() => y));
    series.push({ label, stroke: color, width: 1, dash: [4, 4], points: { show: false } });
  }
  const width = Math.max(320, el.clientWidth || 420);
  const opts = { width, height: 220, series, scales: { x: { time: true, range: [from, to] } }, legend: { live: false } };
  charts[id]?.destroy();
  el.replaceChildren();
  charts[id] = new uPlot(opts, data, el);
}

/** A chart per configured metric: its values per arm over time, with its goal and warning lines. */
function renderMetricCharts(stats) {
  const box = $('#metric-charts');
  const defs = stats.metrics ?? {};
  const ids = Object.keys(defs).map((name) => `chart-${name}`);
  if ([...box.children].map((f) => f.dataset.chart).join() !== ids.join()) {
    for (const id of Object.keys(charts)) {
      charts[id].destroy();
      delete charts[id];
    }
    box.replaceChildren(...Object.entries(defs).map(([name, def]) => {
      const fig = document.createElement('figure');
      fig.dataset.chart = `chart-${name}`;
      const cap = document.createElement('figcaption');
      const limits = [...conditions(def.goal).map((c) => `goal ${c.join(' ').trim()}`), ...conditions(def.warn).map((c) => `warn ${c.join(' ').trim()}`)];
      cap.textContent = `${name}${unitOf(def) ? ` (${unitOf(def).trim()})` : ''}${limits.length ? `; ${limits.join(', ')}` : ''}`;
      const div = document.createElement('div');
      div.id = `chart-${name}`;
      div.setAttribute('role', 'img');
      div.setAttribute('aria-label', `${name} per arm over time`);
      fig.append(cap, div);
      return fig;
    }));
  }
  for (const [name, def] of Object.entries(defs)) {
    const value = (pick) => (a) => shown(def, pick(a.metrics?.[name]) ?? null);
    const lines = def.kind === 'quantile'
      ? quantilesOf(def).map((q, i) => [q, value((m) => m?.quantiles?.[q]), i ? [6, 3] : undefined])
      : [[def.kind === 'proportion' ? 'rate' : 'mean', value((m) => m?.value), undefined]];
    const limits = [
      ...conditions(def.goal).map(([q, op, y]) => [`goal ${q}${op} ${y}`, shown(def, +y), '#b3261e']),
      ...conditions(def.warn).map(([q, op, y]) => [`warn ${q}${op} ${y}`, shown(def, +y), '#d97706']),
    ];
    renderChart(`chart-${name}`, stats, lines, limits);
  }
}

function renderGuards(stats) {
  const tbody = $('#guards tbody');
  tbody.replaceChildren();
  for (const g of stats.guards) {
    const tr = document.createElement('tr');
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = g.guard;
    const state = document.createElement('td');
    state.className = `state-${g.state}`;
    state.textContent = g.state.replace('_', ' ');
    // Which evidence decided (edge-observed or client-reported), and why the guard is not
    // healthy or took a milder action than its own.
    const evidence = document.createElement('td');
    evidence.textContent = { edge: 'edge-observed', client: 'client-reported' }[g.provenance] ?? '—';
    const why = document.createElement('td');
    why.textContent = g.note?.text ?? '';
    const figures = document.createElement('td');
    const code = document.createElement('code');
    code.textContent = Object.entries(g.figures).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(4) : JSON.stringify(v)}`).join(' ');
    figures.append(code);
    tr.append(name, state, evidence, why, figures);
    tbody.append(tr);
  }
  if (!stats.guards.length) tbody.innerHTML = '<tr><td colspan="5">This flag has no guards (or is at tier 0).</td></tr>';
}

function renderDecisions(audit) {
  const list = $('#decisions');
  list.replaceChildren();
  const auto = audit.entries.filter((e) => e.actor === 'guard').slice(0, 10);
  for (const e of auto) {
    const li = document.createElement('li');
    li.textContent = `${when(e.atMs)} UTC: ${e.action}. ${e.reason}`;
    list.append(li);
  }
  if (!auto.length) list.innerHTML = '<li>None.</li>';
}

/** The health card: the last reconciliation of the events KV holds against those counted
 *  (hourly), green at 1 % drift or less (the alert's threshold), red above. */
function renderHealth(health) {
  const card = $('#health');
  card.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = 'Reconciliation';
  card.append(h);
  const r = health?.reconciled;
  if (!r) {
    card.append(row('drift', 'not run yet (hourly)', 'na', 'The hourly Cron Trigger has not finished a run'));
    card.dataset.drift = 'none';
    return;
  }
  const ok = r.drift <= 0.01;
  card.dataset.drift = ok ? 'ok' : 'bad';
  const window = `${when(r.window.fromMs).slice(11, 16)}-${when(r.window.toMs).slice(11, 16)} UTC`;
  card.append(
    row('drift', fmt(pct(r.drift), ' %', 2), ok ? 'ok' : 'bad', 'Stored against counted events; the PilotGateDrift alert fires above 1 %'),
    row('events', `${r.stored} stored of ${r.counted} counted`, 'na',
      `Events accepted ${window}, by hour: ${r.hours.map((h) => `${when(h.hourMs).slice(11, 16)} ${h.stored}/${h.counted}`).join(', ')}`),
    row('last run', `${when(r.atMs)} UTC`, 'na', `${r.lists} KV list calls`),
  );
}

async function refresh() {
  const flag = $('#flag').value;
  const window = $('#window').value;
  const [stats, audit] = await Promise.all([
    api(`/stats/${encodeURIComponent(flag)}?window=${window}`),
    api(`/audit?flag=${encodeURIComponent(flag)}&limit=100`),
  ]);
  $('#plan').textContent = `${stats.flag}: ${stats.status.replace('_', ' ')}, tier ${stats.tier} (${stats.pct} %); pilot arm ${stats.pilot}, control ${stats.control}; ${stats.series.bucketMin} min per point`;
  renderHealth(stats.health);
  renderCards(stats);
  renderMetricCharts(stats);
  renderGuards(stats);
  renderDecisions(audit);
  updated = new Date().toLocaleTimeString();
  showUpdated();
}

/** When the board was last refreshed, and how it hears of changes. */
function showUpdated() {
  if (updated === null) return;
  $('#updated').textContent = `updated ${updated} (${mode === 'live' ? 'live' : `polling every ${POLL_MS / 1000} s`})`;
}

/** Refreshes soon (changes in a burst refresh once). */
function soon() {
  clearTimeout(timer);
  timer = setTimeout(() => refresh().catch((e) => { $('#updated').textContent = `refresh failed: ${e.message}`; }), 200);
}

/** Whether a notice of the operators' stream concerns the flag on show. */
function concerns(notice) {
  const flag = $('#flag').value;
  switch (notice.type) {
    case 'stats': return notice.flag === flag;
    case 'audit': return (notice.flags ?? []).includes(flag);
    case 'plan': case 'health': case 'resync': case 'poll': return true;
    default: return false;
  }
}

async function signIn(ev) {
  ev?.preventDefault();
  if (ev) token.set($('#token').value);
  try {
    const { flags } = await api('/flags');
    const select = $('#flag');
    select.replaceChildren(...flags.map((f) => new Option(f.key, f.key)));
    const guarded = flags.find((f) => f.key === 'pilot') ?? flags.find((f) => f.plan.guards) ?? flags[0];
    if (guarded) select.value = guarded.key;
    $('#login').hidden = true;
    $('#controls').hidden = false;
    $('#board').hidden = false;
    await refresh();
    watching ??= window.PilotAdmin.watch((notice) => { if (concerns(notice)) soon(); }, {
      pollMs: POLL_MS,
      onMode: (m) => { mode = m; showUpdated(); },
    });
  } catch (e) {
    token.clear();
    $('#login-error').textContent = signInError(e);
    $('#token').focus();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', signIn);
  for (const id of ['#flag', '#window']) {
    $(id).addEventListener('change', () => refresh().catch((e) => { $('#updated').textContent = e.message; }));
  }
  if (token.get()) signIn();
});
