// The dashboard: per flag, KPI cards against the launch's thresholds, time series per arm with
// the threshold lines (uPlot), the guards and the last automatic decisions; refreshed every 5 s.
// Reads the admin API through www/js/admin-api.js (the token kept in this tab).
'use strict';

const $ = (sel) => document.querySelector(sel);
const { signInError, token, when } = window.PilotAdmin;
const REFRESH_MS = 5000;
const COLORS = ['#1f5fbf', '#d97706', '#7c3aed', '#059669'];
const charts = {};
let timer = null;

/** GET `/api/admin{route}`: its body. */
const api = async (route) => (await window.PilotAdmin.api('GET', route)).body;

const pct = (x) => (x === null || x === undefined ? null : x * 100);
const fmt = (x, unit, digits = 1) => (x === null || x === undefined ? '—' : `${x.toFixed(digits)}${unit}`);

/** [label, value text, ok (true/false/null: no data)] for each KPI of an arm. */
function kpiRows(a, t) {
  const within = (x, ok) => (x === null || x === undefined ? null : ok(x));
  const wilson = a.errorRateWilson95 ? ` (${fmt(pct(a.errorRateWilson95[0]), '')}–${fmt(pct(a.errorRateWilson95[1]), ' %')})` : '';
  return [
    ['Error rate', `${fmt(pct(a.errorRate), ' %')}${wilson}`, within(a.errorRate, (x) => x < t.errorRate)],
    ['TTV p50', fmt(a.ttvP50Ms === null ? null : a.ttvP50Ms / 1000, ' s', 2), within(a.ttvP50Ms, (x) => x <= t.ttvP50Ms)],
    ['TTV p90', fmt(a.ttvP90Ms === null ? null : a.ttvP90Ms / 1000, ' s', 2), within(a.ttvP90Ms, (x) => x <= t.ttvP90Ms)],
    ['Mic grant', fmt(pct(a.micGrantRate), ' %'), within(a.micGrantRate, (x) => x >= t.micGrantRate)],
    ['Activation', fmt(pct(a.activationRate), ' %'), within(a.activationRate, (x) => x >= t.activationRate)],
  ];
}

function renderCards(stats) {
  const cards = $('#cards');
  cards.replaceChildren();
  const arms = Object.keys(stats.arms).sort((a, b) => (a === stats.pilot ? -1 : b === stats.pilot ? 1 : a.localeCompare(b)));
  if (!arms.length) {
    cards.textContent = 'No events yet in this window.';
    return;
  }
  for (const arm of arms) {
    const a = stats.arms[arm];
    const card = document.createElement('article');
    card.className = 'arm';
    card.dataset.arm = arm;
    const h = document.createElement('h3');
    const role = arm === stats.pilot ? 'pilot' : arm === stats.control ? 'control' : 'arm';
    h.textContent = `${arm} (${role}) · ${a.exposures} visitors`;
    card.append(h);
    for (const [label, text, ok] of kpiRows(a, stats.thresholds)) {
      const row = document.createElement('div');
      row.className = `kpi ${ok === null ? 'na' : ok ? 'ok' : 'bad'}`;
      row.dataset.kpi = label;
      const name = document.createElement('span');
      name.textContent = `${label}${ok === false ? ' (over threshold)' : ''}`;
      const value = document.createElement('b');
      value.textContent = text;
      row.append(name, value);
      card.append(row);
    }
    cards.append(card);
  }
}

/** One uPlot chart: `lines` are [label, fn(kpis) -> number|null], one series per arm; `limits` constant lines. */
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
  for (const [label, y] of limits) {
    data.push(xs.map(() => y));
    series.push({ label, stroke: '#b3261e', width: 1, dash: [4, 4], points: { show: false } });
  }
  const width = Math.max(320, el.clientWidth || 420);
  const opts = { width, height: 220, series, scales: { x: { time: true, range: [from, to] } }, legend: { live: false } };
  charts[id]?.destroy();
  el.replaceChildren();
  charts[id] = new uPlot(opts, data, el);
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
    const figures = document.createElement('td');
    const code = document.createElement('code');
    code.textContent = Object.entries(g.figures).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(4) : JSON.stringify(v)}`).join(' ');
    figures.append(code);
    tr.append(name, state, figures);
    tbody.append(tr);
  }
  if (!stats.guards.length) tbody.innerHTML = '<tr><td colspan="3">This flag has no guards (or is at tier 0).</td></tr>';
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

async function refresh() {
  const flag = $('#flag').value;
  const window = $('#window').value;
  const [stats, audit] = await Promise.all([
    api(`/stats/${encodeURIComponent(flag)}?window=${window}`),
    api(`/audit?flag=${encodeURIComponent(flag)}&limit=100`),
  ]);
  $('#plan').textContent = `${stats.flag}: ${stats.status.replace('_', ' ')}, tier ${stats.tier} (${stats.pct} %); pilot arm ${stats.pilot}, control ${stats.control}; ${stats.series.bucketMin} min per point`;
  renderCards(stats);
  const t = stats.thresholds;
  renderChart('chart-ttv', stats, [['p50', (a) => (a.ttvP50Ms ?? null) && a.ttvP50Ms / 1000], ['p90', (a) => (a.ttvP90Ms ?? null) && a.ttvP90Ms / 1000, [6, 3]]], [['2 s', t.ttvP50Ms / 1000], ['5 s', t.ttvP90Ms / 1000]]);
  renderChart('chart-errors', stats, [['error rate', (a) => pct(a.errorRate)]], [['5 %', pct(t.errorRate)]]);
  renderChart('chart-rates', stats, [['mic grant', (a) => pct(a.micGrantRate)], ['activation', (a) => pct(a.activationRate), [6, 3]]], [['85 %', pct(t.micGrantRate)], ['40 %', pct(t.activationRate)]]);
  renderGuards(stats);
  renderDecisions(audit);
  $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    await refresh().catch((e) => { $('#updated').textContent = `refresh failed: ${e.message}`; });
    schedule();
  }, REFRESH_MS);
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
    schedule();
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
