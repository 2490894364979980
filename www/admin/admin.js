// The admin page of pilot-gate's control plane: plain JS over the admin API (/api/admin/*).
// The token is kept in sessionStorage (this tab only); the API authorises every call.
'use strict';

const $ = (sel) => document.querySelector(sel);
const { api, when, signInError, token, may } = window.PilotAdmin;
/** The signed-in operator: `{name, role}` from `/api/admin/me`. */
let me = null;
// The commands the page offers: command, label, whether a reason is required. Which of them a
// flag allows comes from the API (`commands` of each flag).
const COMMANDS = [
  ['start', 'Start', false],
  ['advance', 'Advance', false],
  ['pause', 'Pause', false],
  ['resume', 'Resume', false],
  ['back', 'Step back', true],
  ['rollback', 'Roll back', true],
];

function cell(row, content) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content); else td.textContent = content;
  row.append(td);
  return td;
}

function describeState(s) {
  if (!s) return '—';
  if ('killed' in s) return s.killed ? 'killed' : 'live';
  if ('pending' in s) return s.pending ? 'pending' : 'not pending';
  if ('status' in s) return `${s.status} t${s.tier} (${s.pct} %)`;
  if ('revision' in s) return `revision ${s.revision}`;
  return JSON.stringify(s);
}

function ladder(plan) {
  const span = document.createElement('span');
  span.className = 'ladder';
  span.setAttribute('aria-label', `ladder ${plan.ladderPct.join(', ')} percent; now tier ${plan.tier}`);
  plan.ladderPct.forEach((pct, i) => {
    const step = document.createElement('span');
    step.textContent = `${pct}%`;
    if (i === plan.tier) step.className = 'now';
    span.append(step);
  });
  return span;
}

function renderFlags(list) {
  const tbody = $('#flags tbody');
  tbody.replaceChildren();
  for (const f of list.flags) {
    const tr = document.createElement('tr');
    tr.dataset.flag = f.key;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = f.key;
    tr.append(th);
    cell(tr, f.plan.status.replace('_', ' ')).className = `status-${f.plan.status}`;
    cell(tr, `${f.plan.tier} of ${f.plan.ladderPct.length - 1} (${f.pct} %)`);
    cell(tr, ladder(f.plan));
    cell(tr, f.plan.allow.length ? f.plan.allow.join(', ') : '—');
    cell(tr, f.blockers.length ? f.blockers.join('; ') : 'ready');
    const actions = cell(tr, '');
    for (const [command, label, needsReason] of COMMANDS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.dataset.command = command;
      b.setAttribute('aria-label', `${label} ${f.key}`);
      b.disabled = !f.commands.includes(command) || !may(me?.role, 'operator');
      if (command === 'rollback') b.classList.add('danger');
      b.addEventListener('click', () => confirmCommand(b, f, command, label, needsReason));
      actions.append(b);
    }
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.textContent = may(me?.role, 'admin') ? 'Edit' : 'View';
    edit.setAttribute('aria-label', `${edit.textContent} ${f.key}`);
    edit.addEventListener('click', () => openEditor(f, edit));
    actions.append(edit);
    tbody.append(tr);
  }
  const killed = list.kill;
  $('#kill-state').textContent = killed
    ? `ON since ${when(killed.atMs)} UTC, by ${killed.actor}: ${killed.reason}. Every flag serves its off variant.`
    : 'Off. Flags serve what their plans say.';
  renderRequests(list.pending ?? []);
  $('#kill').disabled = Boolean(killed) || !may(me?.role, 'operator');
  $('#unkill').disabled = !killed || !may(me?.role, 'operator');
}

/** The commands waiting for approval, each with Approve and Reject for operators (never
 *  Approve for the requester's own). */
function renderRequests(pending) {
  const list = $('#request-list');
  list.replaceChildren();
  $('#no-requests').hidden = pending.length > 0;
  for (const p of pending) {
    const li = document.createElement('li');
    const what = p.flag ? `${p.command} ${p.flag}` : p.command;
    const text = document.createElement('span');
    text.textContent = `Request ${p.id}: ${what} by ${p.requestedBy.name}${p.body?.reason ? ` (${p.body.reason})` : ''}, ` +
      `${p.approvedBy.length} of ${p.needs} approvals, expires ${when(p.expiresAtMs)} UTC. `;
    li.append(text);
    for (const [action, label] of [['approve', 'Approve'], ['reject', 'Reject']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.setAttribute('aria-label', `${label} request ${p.id}: ${what}`);
      b.disabled = !may(me?.role, 'operator') || (action === 'approve' && p.requestedBy.name === me?.name);
      b.addEventListener('click', () => {
        const done = api('POST', `/requests/${p.id}/${action}`, { headers: { 'idempotency-key': crypto.randomUUID() } });
        report(done, `${label}: request ${p.id} done.`, `${label} request ${p.id} refused`);
      });
      li.append(b);
    }
    list.append(li);
  }
}

/** An entry's diff as a disclosure: "N changes", opening onto one line per change. */
function changes(entry) {
  const lines = window.PilotDiff.diffLines(entry);
  if (!lines.length) return '—';
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = `${lines.length} change${lines.length === 1 ? '' : 's'}`;
  const list = document.createElement('ul');
  list.className = 'diff';
  for (const line of lines) {
    const li = document.createElement('li');
    li.textContent = line;
    li.className = { '+': 'added', '-': 'removed', '~': 'changed' }[line[0]] ?? '';
    list.append(li);
  }
  details.append(summary, list);
  return details;
}

function renderAudit(audit) {
  const tbody = $('#audit tbody');
  tbody.replaceChildren();
  for (const e of audit.entries) {
    const tr = document.createElement('tr');
    cell(tr, when(e.atMs));
    cell(tr, e.role ? `${e.actor} (${e.role})` : e.actor);
    cell(tr, e.action);
    cell(tr, e.flag ?? 'all flags');
    cell(tr, `${describeState(e.from)} → ${describeState(e.to)}`);
    cell(tr, e.reason ?? '');
    cell(tr, changes(e));
    tbody.append(tr);
  }
}

let liveMode = 'polling';
let refreshTimer = null;

async function refresh() {
  const [flags, audit, status] = await Promise.all([api('GET', '/flags'), api('GET', '/audit?limit=50'), api('GET', '/status')]);
  renderFlags(flags.body);
  renderAudit(audit.body);
  const s = status.body;
  const feed = liveMode === 'live' ? 'live' : 'polling every 5 s';
  $('#status').textContent = `revision ${s.revision} · published ${s.published}${s.pending ? ` · pending ${s.pending}` : ''} · ${feed}`;
}

/** Refreshes when the operators' event stream says the audit log or a plan changed (every
 *  5 s while it is down); a burst refreshes once. */
function watchChanges() {
  window.PilotAdmin.watch((notice) => {
    if (notice.type === 'stats') return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh().catch((e) => say(e.message, true)), 200);
  }, {
    onMode: (m) => {
      liveMode = m;
      $('#status').textContent = $('#status').textContent.replace(/ · (live|polling every 5 s)$/, ` · ${m === 'live' ? 'live' : 'polling every 5 s'}`);
    },
  });
}

function say(text, isError = false) {
  const m = $('#message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

/** Opens the confirmation dialog; resolves to the reason, or null when cancelled. */
function ask({ title, text, reasonRequired, danger }) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#reason-label').textContent = reasonRequired ? 'Reason (required, recorded in the audit log)' : 'Reason (optional, recorded in the audit log)';
  const reason = $('#reason');
  reason.value = '';
  // Checked below with a message of our own (the browser's bubble is not announced everywhere).
  reason.setAttribute('aria-required', String(reasonRequired));
  $('#confirm-error').textContent = '';
  $('#go').classList.toggle('danger', Boolean(danger));
  return new Promise((resolve) => {
    const done = (value) => {
      $('#confirm-form').onsubmit = null;
      $('#cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    $('#confirm-form').onsubmit = (ev) => {
      ev.preventDefault();
      const r = reason.value.trim();
      if (reasonRequired && !r) {
        $('#confirm-error').textContent = 'A reason is required.';
        reason.focus();
        return;
      }
      done(r);
    };
    $('#cancel').onclick = () => done(null);
    dialog.onclose = () => done(null);
    dialog.showModal();
    reason.focus();
  });
}

/** Shows the tiers below the flag's current one (back's target), or hides the field. */
function tierChoice(flag, shown) {
  const select = $('#to-tier');
  select.replaceChildren();
  $('#tier-field').hidden = !shown;
  if (!shown) return;
  for (let tier = flag.plan.tier - 1; tier >= 1; tier--) {
    const o = document.createElement('option');
    o.value = String(tier);
    o.textContent = `tier ${tier} (${flag.plan.ladderPct[tier]} %)`;
    select.append(o);
  }
}

async function confirmCommand(button, flag, command, label, needsReason) {
  tierChoice(flag, command === 'back');
  // An advance the guards or the dwell time refuse now is an override: said so, with the
  // reasons, and a reason of the operator's own for the audit log.
  const forced = command === 'advance' && flag.blockers.length > 0;
  const at = `${flag.key} is ${flag.plan.status} at tier ${flag.plan.tier} (${flag.pct} %).`;
  const reason = await ask({
    title: forced ? `Advance ${flag.key} anyway?` : `${label} ${flag.key}?`,
    text: command === 'rollback'
      ? `Every visitor of ${flag.key} goes back to its off variant (tier 0).`
      : forced
        ? `${at} It may not advance now: ${flag.blockers.join('; ')}. Advancing anyway overrides that, and the audit log records your reason.`
        : at,
    reasonRequired: needsReason || forced,
    danger: command === 'rollback' || forced,
  });
  const to = command === 'back' ? Number($('#to-tier').value) : undefined;
  tierChoice(flag, false);
  button.focus();
  if (reason === null) return;
  // If-Match: the command applies to the flag as shown, or is refused (409).
  const done = api('POST', `/flags/${encodeURIComponent(flag.key)}/${command}`, {
    body: { ...(reason ? { reason } : {}), ...(to === undefined ? {} : { to }), ...(forced ? { force: true } : {}) },
    headers: { 'if-match': flag.etag, 'idempotency-key': crypto.randomUUID() },
  });
  await report(done, (b) => (b?.pending ? `${label} ${flag.key}: waiting for approval (request ${b.pending.id}).` : `${label}: ${flag.key} done.`), `${label} ${flag.key} refused`);
}

// The editor: a flag's definition and plan as JSON fields, a preview of the diff, and a save
// that sends If-Match (a concurrent change is refused, not overwritten). Viewers and operators
// see it read only.
let editing = null;
const FIELDS = [
  ['variants', (d) => d.definition.variants, (d, v) => { d.definition.variants = v; }],
  ['targeting', (d) => d.definition.targeting ?? null, (d, v) => {
    if (v === null) delete d.definition.targeting; else d.definition.targeting = v;
  }],
  ['allow', (d) => d.plan.allow, (d, v) => { d.plan.allow = v; }],
  ['deny', (d) => d.plan.deny, (d, v) => { d.plan.deny = v; }],
  ['guards', (d) => d.plan.guards ?? null, (d, v) => {
    if (v === null) delete d.plan.guards; else d.plan.guards = v;
  }],
];
/** Where a 422's JSON pointer is shown. */
const FIELD_OF_PATH = [
  ['/definition/variants', 'variants'], ['/definition/targeting', 'targeting'],
  ['/definition/defaultVariant', 'default-variant'], ['/plan/allow', 'allow'],
  ['/plan/deny', 'deny'], ['/plan/guards', 'guards'],
];

function clearErrors() {
  for (const el of document.querySelectorAll('#editor-form .error')) el.textContent = '';
  for (const el of document.querySelectorAll('#editor-form [aria-invalid]')) el.removeAttribute('aria-invalid');
}

function fieldError(field, text) {
  $(`#error-${field}`).textContent = text;
  const input = field === 'default-variant' ? $('#default-variant') : $(`#edit-${field}`);
  input?.setAttribute('aria-invalid', 'true');
  input?.focus();
}

function openEditor(flag, opener) {
  const readOnly = !may(me?.role, 'admin');
  editing = { key: flag.key, etag: flag.etag, original: { definition: flag.definition, plan: flag.plan }, opener };
  $('#editor-title').textContent = `${readOnly ? 'View' : 'Edit'} ${flag.key}`;
  $('#editor-note').textContent = readOnly
    ? `Read only: your role (${me?.role}) may not change definitions.`
    : 'Edit the JSON, preview the changes, then save. Tier and status move only by command.';
  const select = $('#default-variant');
  // A flag without a default variant (as flagd allows) answers the caller's own default.
  select.replaceChildren(new Option('(none: the caller\'s own default)', ''),
    ...Object.keys(flag.definition.variants ?? {}).map((v) => new Option(v, v)));
  select.value = flag.definition.defaultVariant ?? '';
  for (const [field, get] of FIELDS) $(`#edit-${field}`).value = JSON.stringify(get(editing.original), null, 2);
  for (const el of document.querySelectorAll('#editor-form textarea, #editor-form input')) el.readOnly = readOnly;
  select.disabled = readOnly;
  $('#allow-add-button').disabled = readOnly;
  $('#preview').disabled = readOnly;
  $('#save').disabled = true;
  $('#preview-zone').hidden = true;
  clearErrors();
  $('#editor').hidden = false;
  $('#editor-title').focus();
}

/** The flag as the fields say, or null after showing the first field that is not JSON. */
function draft() {
  clearErrors();
  const d = structuredClone(editing.original);
  const chosen = $('#default-variant').value || null;
  if (chosen !== (editing.original.definition.defaultVariant ?? null)) {
    d.definition.defaultVariant = chosen;
    // Without a rule of its own, a flag in its rollout serves its plan's `on` variant: the
    // default variant the operator picks is what it serves.
    const rule = d.definition.targeting;
    if (rule === undefined || rule === null || (typeof rule === 'object' && !Object.keys(rule).length)) d.plan.on = chosen;
  }
  for (const [field, , set] of FIELDS) {
    try {
      set(d, JSON.parse($(`#edit-${field}`).value));
    } catch (e) {
      fieldError(field, `Not JSON: ${e.message}`);
      return null;
    }
  }
  return d;
}

function preview() {
  const d = draft();
  if (!d) return null;
  const lines = window.PilotDiff.diffLines({ diff: window.PilotDiff.diff(editing.original, d) });
  const list = $('#preview-list');
  list.replaceChildren(...(lines.length ? lines : ['No changes.']).map((line) => {
    const li = document.createElement('li');
    li.textContent = line;
    li.className = { '+': 'added', '-': 'removed', '~': 'changed' }[line[0]] ?? '';
    return li;
  }));
  $('#preview-zone').hidden = false;
  $('#save').disabled = lines.length === 0;
  return d;
}

async function save(ev) {
  ev.preventDefault();
  const d = preview();
  if (!d || $('#save').disabled) return;
  try {
    await api('PUT', `/flags/${encodeURIComponent(editing.key)}`, {
      body: d, headers: { 'if-match': editing.etag, 'idempotency-key': crypto.randomUUID() },
    });
  } catch (e) {
    if (e.status === 422 && typeof e.body?.path === 'string') {
      const hit = FIELD_OF_PATH.find(([prefix]) => e.body.path.startsWith(prefix));
      if (hit) fieldError(hit[1], `${e.body.path}: ${e.body.detail}`);
      else $('#error-other').textContent = e.message;
    } else if (e.status === 412) {
      $('#error-other').textContent = 'Someone changed this flag since you opened it: close, and open it again to see their change.';
    } else {
      $('#error-other').textContent = e.message;
    }
    return;
  }
  const key = editing.key;
  closeEditor();
  await report(Promise.resolve(), `Saved ${key}.`, '');
}

function closeEditor() {
  $('#editor').hidden = true;
  editing?.opener?.isConnected && editing.opener.focus();
  editing = null;
}

function addToAllowlist() {
  const key = $('#allow-add').value.trim();
  if (!key) return;
  let allow;
  try {
    allow = JSON.parse($('#edit-allow').value);
  } catch (e) {
    fieldError('allow', `Not JSON: ${e.message}`);
    return;
  }
  if (!allow.includes(key)) allow.push(key);
  $('#edit-allow').value = JSON.stringify(allow, null, 2);
  $('#allow-add').value = '';
  preview();
}

/** Waits for a command, refreshes the tables, then says how it went. */
async function report(done, success, failure) {
  let text = success;
  let failed = false;
  try {
    const answer = await done;
    if (typeof success === 'function') text = success(answer?.body);
  } catch (e) {
    text = `${failure}: ${e.message}`;
    failed = true;
  }
  try {
    await refresh();
  } catch (e) {
    text = `${text} (refresh failed: ${e.message})`;
    failed = true;
  }
  say(text, failed);
}

async function killSwitch(on) {
  const reason = await ask({
    title: on ? 'Kill every flag?' : 'Unkill?',
    text: on ? 'Every flag serves its off variant within the edge cache time.' : 'Every flag goes back to what its plan says, the same visitors in the same cohorts.',
    reasonRequired: on,
    danger: on,
  });
  $(on ? '#kill' : '#unkill').focus();
  if (reason === null) return;
  const done = api('POST', on ? '/kill' : '/unkill', { body: reason ? { reason } : {}, headers: { 'idempotency-key': crypto.randomUUID() } });
  await report(done, on ? 'Kill switch ON.' : 'Kill switch off.', on ? 'Kill refused' : 'Unkill refused');
}

async function signIn(ev) {
  ev?.preventDefault();
  if (ev) token.set($('#token').value);
  try {
    me = (await api('GET', '/me')).body;
    $('#whoami').textContent = `Signed in as ${me.name} (${me.role})${me.role === 'viewer' ? ': read only' : ''}.`;
    await refresh();
    $('#login').hidden = true;
    $('#console').hidden = false;
    $('#flags-title').focus?.();
    watchChanges();
  } catch (e) {
    token.clear();
    $('#login').hidden = false;
    $('#console').hidden = true;
    $('#login-error').textContent = signInError(e);
    $('#token').focus();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', signIn);
  $('#kill').addEventListener('click', () => killSwitch(true));
  $('#unkill').addEventListener('click', () => killSwitch(false));
  $('#editor-form').addEventListener('submit', save);
  $('#preview').addEventListener('click', preview);
  $('#editor-close').addEventListener('click', closeEditor);
  $('#allow-add-button').addEventListener('click', addToAllowlist);
  $('#default-variant').addEventListener('change', preview);
  $('#refresh').addEventListener('click', () => refresh().catch((e) => say(e.message, true)));
  $('#logout').addEventListener('click', () => {
    token.clear();
    window.location.reload();
  });
  if (token.get()) signIn();
});
