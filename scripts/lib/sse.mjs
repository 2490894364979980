// One Server-Sent Events connection over fetch, for the benchmark and the tests: every event
// with its arrival time, the comments (heartbeats) and the retry time, and a way to wait for
// an event. The parser is the admin pages' own (www/js/event-stream.js).
import { FrameParser, parseData } from '../../www/js/event-stream.js';

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
    const parser = new FrameParser();
    try {
      for await (const chunk of res.body) {
        const at = performance.now();
        for (const f of parser.push(decoder.decode(chunk, { stream: true }))) {
          s.retry = parser.retryMs;
          if (f.comment !== undefined) { s.comments.push({ text: f.comment, at }); continue; }
          const ev = { id: f.id, event: f.event, data: parseData(f.data), at };
          s.events.push(ev);
          for (const w of s.waiters) {
            if (w.pred(ev)) { clearTimeout(w.timer); s.waiters.delete(w); w.resolve(ev); }
          }
        }
      }
    } catch { /* aborted or cut */ }
    s.ended = true;
  })();
  return s;
}
