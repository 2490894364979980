// End-to-end tests of operators against `wrangler dev`: named credentials with roles
// (`ADMIN_TOKENS`) on every kind of admin route, the audit actor taken from the credential and
// never from a header, the audit log read by operator, and a malformed credential list that
// closes the admin API alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import jsonpatch from 'fast-json-patch';

import { OPERATORS, ROOT, admin, startWorker, until } from './harness.mjs';

const boolean = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' };

/** One route of each kind, the role it needs, and a request it accepts. */
const KINDS = [
  { needs: 'viewer', method: 'GET', route: '/flags' },
  { needs: 'viewer', method: 'GET', route: '/audit' },
  { needs: 'viewer', method: 'GET', route: '/stats/pilot' },
  { needs: 'viewer', method: 'GET', route: '/dead-letters' },
  { needs: 'operator', method: 'POST', route: '/flags/pilot/pause' },
  { needs: 'operator', method: 'POST', route: '/flags/pilot/resume' },
  { needs: 'admin', method: 'PUT', route: '/flags/roles_probe', body: { definition: boolean } },
  { needs: 'admin', method: 'DELETE', route: '/flags/roles_probe' },
];
const RANK = { viewer: 0, operator: 1, admin: 2 };

describe('operators', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `operators-${process.pid}`, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  test('each role against each kind of route: allowed, or 403 naming the role it needs', async () => {
    for (const as of ['vera', 'olga', 'ada']) {
      const role = OPERATORS[as].role;
      for (const { needs, method, route, body } of KINDS) {
        const r = await admin(w.url, method, route, { as, body });
        if (RANK[role] >= RANK[needs]) {
          assert.ok(r.status < 400, `${as} (${role}) ${method} ${route}: ${r.status} ${JSON.stringify(r.body)}`);
        } else {
          assert.equal(r.status, 403, `${as} (${role}) ${method} ${route}`);
          assert.deepEqual(r.body, { error: 'forbidden', detail: `needs ${needs}` });
        }
      }
    }
    // Stored events: a viewer reads them, only an admin deletes them.
    const events = (as, method) => fetch(`${w.url}/api/events?limit=1`, { method, headers: { authorization: `Bearer ${OPERATORS[as].token}` } });
    assert.equal((await events('vera', 'GET')).status, 200);
    const del = await events('olga', 'DELETE');
    assert.deepEqual([del.status, (await del.json()).detail], [403, 'needs admin']);
    // Who am I, for the admin page and the CLI.
    assert.deepEqual((await admin(w.url, 'GET', '/me', { as: 'vera' })).body, { name: 'vera', role: 'viewer' });
    assert.deepEqual((await admin(w.url, 'GET', '/me')).body, { name: 'admin', role: 'admin' });
    for (const token of [null, 'x'.repeat(40), `${OPERATORS.vera.token}x`]) {
      const r = await admin(w.url, 'GET', '/me', { token });
      assert.deepEqual([r.status, r.body.error], [401, 'unauthorized']);
    }
  });

  test('the audit actor is the credential\'s operator with their role: X-Pilot-Actor: guard is not the guard', async () => {
    const r = await admin(w.url, 'POST', '/flags/pilot/pause', { as: 'olga', headers: { 'x-pilot-actor': 'guard' }, body: { reason: 'forged' } });
    assert.equal(r.status, 200);
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=pilot&limit=1')).body.entries;
    assert.deepEqual([entry.actor, entry.role, entry.action, entry.reason], ['olga', 'operator', 'pause', 'forged']);
    assert.equal((await admin(w.url, 'POST', '/flags/pilot/resume', { as: 'otto' })).status, 200);
    // By operator.
    const byOtto = (await admin(w.url, 'GET', '/audit?operator=otto', { as: 'vera' })).body;
    assert.ok(byOtto.entries.length >= 1);
    assert.ok(byOtto.entries.every((e) => e.actor === 'otto'), JSON.stringify(byOtto.entries));
    assert.equal(byOtto.operator, 'otto');
    const guard = (await admin(w.url, 'GET', '/audit?operator=guard')).body.entries;
    assert.deepEqual(guard, [], 'no operator acted as the guard');
  });
});

describe('approvals', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `operators-approvals-${process.pid}`, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  test('an advance gated by approvals waits for a second operator, then runs in the first one\'s name', async () => {
    const plan = { minDwellS: 0, approvals: { advance: 1, expiresS: 600 } };
    assert.equal((await admin(w.url, 'PUT', '/flags/four_eyes', { as: 'ada', body: { definition: boolean, plan } })).status, 201);
    assert.equal((await admin(w.url, 'POST', '/flags/four_eyes/start', { as: 'olga' })).status, 200, 'start is not gated');
    const status = (await admin(w.url, 'GET', '/status')).body;
    const asked = await admin(w.url, 'POST', '/flags/four_eyes/advance', { as: 'olga', body: { reason: 'dashboards green' } });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const { id } = asked.body.pending;
    assert.equal((await admin(w.url, 'GET', '/flags/four_eyes')).body.plan.tier, 1, 'waiting');
    assert.equal((await admin(w.url, 'GET', '/status')).body.revision, status.revision, 'nothing published');
    const listed = (await admin(w.url, 'GET', '/requests', { as: 'vera' })).body.pending;
    assert.deepEqual(listed.map((p) => [p.id, p.command, p.flag, p.requestedBy.name]), [[id, 'advance', 'four_eyes', 'olga']]);
    // A viewer may not approve; the requester may not either.
    assert.equal((await admin(w.url, 'POST', `/requests/${id}/approve`, { as: 'vera' })).status, 403);
    const own = await admin(w.url, 'POST', `/requests/${id}/approve`, { as: 'olga' });
    assert.deepEqual([own.status, own.body.error], [403, 'forbidden']);
    const done = await admin(w.url, 'POST', `/requests/${id}/approve`, { as: 'otto' });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.plan.tier, 2);
    const trail = (await admin(w.url, 'GET', '/audit?flag=four_eyes&limit=3')).body.entries;
    assert.deepEqual(trail.map((e) => [e.actor, e.action]), [['olga', 'advance'], ['otto', 'approve'], ['olga', 'request']]);
    assert.deepEqual(trail[0].evidence.approvedBy, ['otto']);
    assert.equal((await admin(w.url, 'POST', `/requests/${id}/approve`, { as: 'ada' })).status, 404, 'run once');
  });

  test('the CLI files, lists and approves a request', () => {
    const cli = (as, ...args) => spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', w.url, ...args], { encoding: 'utf8', env: { ...process.env, PILOT_ADMIN_TOKEN: OPERATORS[as].token } });
    const asked = cli('olga', 'advance', 'four_eyes');
    assert.equal(asked.status, 0, asked.stderr);
    const [, id] = asked.stdout.match(/^request (\d+): advance four_eyes by olga, waiting for 1 more approval; expires /) ?? [];
    assert.ok(id, asked.stdout);
    assert.match(cli('vera', 'requests').stdout, new RegExp(`^request ${id}: advance four_eyes by olga`));
    const own = cli('olga', 'approve', id);
    assert.equal(own.status, 1);
    assert.match(own.stderr, /403 forbidden: needs another operator/);
    const ok = cli('otto', 'approve', id);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^request ${id} approved and run: four_eyes: active, tier 3 of 4`));
  });
});

describe('audit diffs', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `operators-diff-${process.pid}`, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  const doc = (flag) => ({ definition: flag.definition, plan: flag.plan });

  test('a change to a flag carries an RFC 6902 diff that fast-json-patch applies forward and, undone, rebuilds the version before', async () => {
    const before = doc((await admin(w.url, 'GET', '/flags/syncEnabled')).body);
    const next = structuredClone(before);
    next.definition.defaultVariant = next.definition.defaultVariant === 'on' ? 'off' : 'on';
    next.plan.allow = [...next.plan.allow, 'qa-diff-1'];
    const put = await admin(w.url, 'PUT', '/flags/syncEnabled', { as: 'ada', body: next });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const after = doc((await admin(w.url, 'GET', '/flags/syncEnabled')).body);
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=syncEnabled&limit=1')).body.entries;
    assert.deepEqual([entry.action, entry.actor, entry.role], ['put', 'ada', 'admin']);
    // Forward, with its tests of what was there: the stored version after.
    assert.deepEqual(jsonpatch.applyPatch(structuredClone(before), entry.diff, true).newDocument, after);
    // Backward: replay the steps in reverse, each test/replace or test/remove undone.
    let rebuilt = structuredClone(after);
    const ops = entry.diff;
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i];
      if (op.op === 'add') rebuilt = jsonpatch.applyPatch(rebuilt, [{ op: 'remove', path: op.path }]).newDocument;
      else if (op.op === 'remove') rebuilt = jsonpatch.applyPatch(rebuilt, [{ op: 'add', path: op.path, value: ops[i - 1].value }]).newDocument;
      else if (op.op === 'replace') rebuilt = jsonpatch.applyPatch(rebuilt, [{ op: 'replace', path: op.path, value: ops[i - 1].value }]).newDocument;
    }
    assert.deepEqual(rebuilt, before);
    // Read alone by its seq; the CLI shows it under its row.
    const alone = (await admin(w.url, 'GET', `/audit?seq=${entry.seq}`)).body.entries;
    assert.deepEqual(alone, [entry]);
    const cli = spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', w.url, 'audit', 'syncEnabled', '--limit', '1'], { encoding: 'utf8', env: { ...process.env, PILOT_ADMIN_TOKEN: OPERATORS.vera.token } });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /ada \(admin\) +put +syncEnabled/);
    assert.match(cli.stdout, /^ {4}\+ \/plan\/allow\/\d+: "qa-diff-1"$/m);
    assert.match(cli.stdout, /^ {4}~ \/definition\/defaultVariant: "(on|off)" -> "(on|off)"$/m);
  });

  test('an import carries the whole set\'s diff; a command, its plan\'s; a kill, none', async () => {
    assert.equal((await admin(w.url, 'POST', '/flags/pilot/pause', { as: 'olga' })).status, 200);
    assert.equal((await admin(w.url, 'POST', '/kill', { as: 'olga', body: { reason: 'drill' } })).status, 200);
    assert.equal((await admin(w.url, 'POST', '/unkill', { as: 'olga' })).status, 200);
    const [unkill, kill, pause] = (await admin(w.url, 'GET', '/audit?limit=3')).body.entries;
    assert.deepEqual([unkill.action, kill.action, pause.action], ['unkill', 'kill', 'pause']);
    assert.equal(kill.diff, undefined);
    assert.ok(pause.diff.some((op) => op.op === 'replace' && op.path === '/plan/status' && op.value === 'paused'), JSON.stringify(pause.diff));
    const [imported] = (await admin(w.url, 'GET', '/audit?operator=admin&limit=100')).body.entries.filter((e) => e.action === 'import');
    assert.ok(imported.diff.some((op) => op.op === 'add' && op.path === '/flags/pilot'), 'the import added pilot');
  });
});

describe('a malformed ADMIN_TOKENS', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `operators-bad-${process.pid}`, vars: { ADMIN_TOKENS: `ana:viewer:short,${'x'}` } });
  });
  after(async () => { await w?.stop(); });

  test('closes the admin API (503, the variable in the log, no token) and leaves pages alone', async () => {
    for (const as of [undefined, 'vera']) {
      const r = await admin(w.url, 'GET', '/status', { as });
      assert.deepEqual([r.status, r.body.error], [503, 'unavailable']);
    }
    const events = await fetch(`${w.url}/api/events`, { headers: { authorization: `Bearer ${OPERATORS.ada.token}` } });
    assert.equal(events.status, 503);
    assert.equal((await fetch(`${w.url}/`)).status, 200);
    await until(() => /"var":"ADMIN_TOKENS"/.test(readFileSync(w.log, 'utf8')), 'the log names ADMIN_TOKENS');
    assert.doesNotMatch(readFileSync(w.log, 'utf8'), /short/, 'the log never shows a token');
  });
});
