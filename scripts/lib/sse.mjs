// A Server-Sent Events client over fetch, for the operator tools, the benchmark and the tests:
// unlike EventSource it sends headers (Authorization, Last-Event-ID) and exposes each event's
// arrival time. It parses the wire format of the HTML standard (id, event, data, retry,
// comments), for the frames pilot-gate sends.

/**
 * Opens `url` as an event stream. Answers `{status, headers, body?, events, comments, retry,
 * ended, next(pred, timeoutMs), close()}`; `events` fills as they arrive, each
 * `{id, event, data, at}` (`data` parsed as JSON when it is JSON; `at` from performance.now()).
 */
export async function openStream(url, { headers = {} } = {}) {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  const s = {
    status: res.status,
    headers: res.headers,
    events: [],
    comments: [],
    retry: null,
    ended: false,
    waiters: new Set(),
    close() { ctrl.abort(); },
    /** The first event from index `from` on that matches `pred`, within `timeoutMs`. */
    next(pred = () => true, timeoutMs = 5_000, from = 0) {
      const found = s.events.slice(from).find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve, timer: null };
        w.timer = setTimeout(() => { s.waiters.delete(w); reject(new Error(`no matching event within ${timeoutMs} ms`)); }, timeoutMs);
        s.waiters.add(w);
      });
    },
  };
  if (!res.ok || !res.body) {
    s.body = await res.text();
    s.ended = true;
    return s;
  }
  (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          dispatch(s, buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch { /* aborted or cut */ }
    s.ended = true;
  })();
  return s;
}

function dispatch(s, block) {
  const ev = { id: null, event: 'message', data: null, at: performance.now() };
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) { s.comments.push({ text: line.slice(1).trim(), at: ev.at }); continue; }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') ev.id = value;
    else if (field === 'event') ev.event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'retry') s.retry = Number(value);
  }
  if (!data.length) return;
  const text = data.join('\n');
  try { ev.data = JSON.parse(text); } catch { ev.data = text; }
  s.events.push(ev);
  for (const w of s.waiters) {
    if (w.pred(ev)) { clearTimeout(w.timer); s.waiters.delete(w); w.resolve(ev); }
  }
}
