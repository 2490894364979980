// Notifications against `wrangler dev`: with NOTIFY_URL pointing at a receiver of the test's own
// (127.0.0.1), every audit entry arrives as a JSON POST with a `text` line, signed with
// NOTIFY_SECRET (X-Pilot-Signature, HMAC-SHA256 of the body), in the audit log's order; a
// receiver that fails gets the notice again until it takes it. (A guard's decision is an audit
// entry like any other: tests/control/notify.rs checks its text.)
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { admin, freePort, startWorker, until } from './harness.mjs';

const SECRET = 'e2e-notify-secret-0123456789abcdef';

/** A receiver on 127.0.0.1: records every POST; `failNext(n)` answers the next n with 500. */
async function startReceiver() {
  const port = await freePort();
  const got = [];
  let failing = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const failed = failing > 0;
      if (failed) failing -= 1;
      got.push({ body, signature: req.headers['x-pilot-signature'], type: req.headers['content-type'], failed, at: Date.now() });
      res.writeHead(failed ? 500 : 200).end();
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    failNext: (n) => { failing = n; },
    /** The notices taken (answered 200), parsed. */
    taken: () => got.filter((g) => !g.failed).map((g) => JSON.parse(g.body)),
    stop: () => new Promise((r) => server.close(r)),
  };
}

describe('notifications', () => {
  let w;
  let hook;
  before(async () => {
    hook = await startReceiver();
    w = await startWorker({ state: `notify-${process.pid}`, flags: 'flags/demo.json', vars: { NOTIFY_URL: hook.url, NOTIFY_SECRET: SECRET } });
  });
  after(async () => {
    await w?.stop();
    await hook?.stop();
  });

  test('every audit entry is POSTed, signed, with a text line, in the audit log\'s order', async () => {
    const before = hook.taken().length;
    for (const [route, reason] of [['/flags/pilot/pause', 'notify 1'], ['/flags/pilot/resume', 'notify 2'], ['/flags/pilot/pause', 'notify 3']]) {
      assert.equal((await admin(w.url, 'POST', route, { as: 'olga', body: { reason } })).status, 200);
    }
    const notices = await until(() => {
      const t = hook.taken().slice(before).filter((n) => /^notify \d$/.test(n.reason ?? ''));
      return t.length >= 3 ? t : null;
    }, 'three notices', 30_000);
    assert.deepEqual(notices.map((n) => n.reason), ['notify 1', 'notify 2', 'notify 3'], 'in order');
    assert.ok(notices[0].seq < notices[1].seq && notices[1].seq < notices[2].seq);
    assert.equal(notices[0].text, 'pilot-gate: olga (operator) pause on pilot: notify 1');
    assert.equal(notices[1].action, 'resume');
    assert.equal(notices[0].automatic, false);
    // Each seq is the audit log's own.
    const audit = (await admin(w.url, 'GET', '/audit?flag=pilot&limit=10')).body.entries;
    for (const n of notices) assert.equal(audit.find((e) => e.seq === n.seq)?.reason, n.reason);
    for (const g of hook.got.filter((x) => !x.failed)) {
      assert.equal(g.type, 'application/json');
      assert.equal(g.signature, `sha256=${createHmac('sha256', SECRET).update(g.body).digest('hex')}`);
    }
  });

  test('a receiver that fails gets the notice again until it takes it', async (t) => {
    const attemptsBefore = hook.got.length;
    hook.failNext(2);
    assert.equal((await admin(w.url, 'POST', '/flags/pilot/resume', { as: 'olga', body: { reason: 'notify retried' } })).status, 200);
    const taken = await until(() => hook.taken().find((n) => n.reason === 'notify retried'), 'the retried notice taken', 90_000);
    const attempts = hook.got.slice(attemptsBefore).filter((g) => JSON.parse(g.body).reason === 'notify retried');
    t.diagnostic(`delivered on attempt ${attempts.length}, ${attempts.at(-1).at - attempts[0].at} ms after the first`);
    assert.equal(attempts.length, 3, 'two failures, then taken');
    assert.deepEqual(attempts.map((a) => a.failed), [true, true, false]);
    assert.ok(new Set(attempts.map((a) => a.body)).size === 1, 'the same notice each time');
    assert.equal(taken.text, 'pilot-gate: olga (operator) resume on pilot: notify retried');
  });
});
