// The one place the worker builds its responses, called from wasm once per response. Headers
// arrive packed in one string ("name\nvalue\nname\nvalue"; HTTP allows no newline in either) and
// Set-Cookie values in another ("a=1; Path=/\nb=2; Path=/"), so a response costs one crossing of
// the wasm boundary instead of two strings per header. Later names replace earlier ones.

function headersOf(init, packed, cookies) {
  const h = new Headers(init);
  if (packed) {
    const p = packed.split('\n');
    for (let i = 0; i + 1 < p.length; i += 2) h.set(p[i], p[i + 1]);
  }
  if (cookies) for (const c of cookies.split('\n')) h.append('Set-Cookie', c);
  return h;
}

/** An answer of the worker's own: `body` is a string or null. */
export function respond(status, body, packed, cookies) {
  return new Response(body ?? null, { status, headers: headersOf(undefined, packed, cookies) });
}

/**
 * The upstream's answer to `request` (`fetcher` is a binding (assets, the control worker, a stream object), or null for the origin)
 * with the outcome's headers and cookies. If the upstream fails, `onError(requestId, detail)`
 * logs it and the answer is `failStatus` with `failBody` and the headers plus `failPacked`.
 * With a `token` (a gated route's exposure), `onUpstream(token, status, ms)` records what the
 * upstream answered (status 0: it failed) and its time to first byte. Every answer is counted
 * under `kind` (see takePassed).
 */
export function passThrough(fetcher, request, packed, cookies, failStatus, failBody, failPacked, onError, requestId, onUpstream, token, kind) {
  const started = token ? Date.now() : 0;
  let upstream;
  try {
    upstream = fetcher === null ? fetch(request) : fetcher.fetch(request);
  } catch (e) {
    upstream = Promise.reject(e);
  }
  return upstream.then(
    (up) => {
      count(kind, up.status);
      if (token) onUpstream(token, up.status, Date.now() - started);
      return new Response(up.body, { status: up.status, statusText: up.statusText, headers: headersOf(up.headers, packed, cookies) });
    },
    (e) => {
      count(kind, failStatus);
      if (token) onUpstream(token, 0, Date.now() - started);
      onError(requestId, String(e));
      return respond(failStatus, failBody, `${packed}\n${failPacked}`, cookies);
    },
  );
}

// Pass-throughs' answers by route label (its index in the core's answers::LABELS, at most 16)
// and status class (1xx..5xx), counted here so that a page costs no crossing into wasm; the
// worker takes them when it flushes its counts (every 5 s at most).
const KINDS = 16;
let passed = new Uint32Array(KINDS * 5);

function count(kind, status) {
  const cls = Math.floor(status / 100) - 1;
  if (cls >= 0 && cls < 5) passed[kind * 5 + cls] += 1;
}

/** The counts since the last call, and zero again. */
export function takePassed() {
  const out = passed;
  passed = new Uint32Array(KINDS * 5);
  return out;
}
