// Server-Sent Events over fetch, shared by the admin page and the dashboard (a module script
// that also sets `window.PilotStream`) and the operator tools and benchmark (scripts/lib/sse.mjs).
// Unlike EventSource it sends headers (the operator's bearer token, Last-Event-ID). It parses
// the wire format of the HTML standard: id, event, data, retry and comments.

/** Parses a stream's text as it arrives into frames. */
export class FrameParser {
  constructor() {
    this.buffer = '';
    /** The last `retry:` the server sent, in ms. */
    this.retryMs = null;
  }

  /** Adds text; answers the complete frames: `{comment}` or `{id, event, data}` (data a string). */
  push(text) {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const frames = [];
    let cut;
    while ((cut = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, cut);
      this.buffer = this.buffer.slice(cut + 2);
      const ev = { id: null, event: 'message', data: null };
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) { frames.push({ comment: line.slice(1).trim() }); continue; }
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      }
      if (data.length) frames.push({ ...ev, data: data.join('\n') });
    }
    return frames;
  }
}

/** `data` as JSON when it is JSON, else the text. */
export const parseData = (text) => {
  try { return JSON.parse(text); } catch { return text; }
};

/**
 * Listens to `url` until `stop()`: each event goes to `onEvent({id, event, data})` (data parsed),
 * `onOpen()` when a connection answers 200, `onFail(failures)` when one fails or ends. It
 * reconnects with Last-Event-ID after the server's retry time, doubling the wait after each
 * failure in a row up to 30 s. `headers()` is called for each connection.
 */
export function listen(url, { headers = () => ({}), onEvent, onOpen, onFail } = {}) {
  let stopped = false;
  let ctrl = null;
  let lastId = null;
  let failures = 0;
  const parser = new FrameParser();
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  (async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const h = { accept: 'text/event-stream', ...headers() };
        if (lastId !== null) h['last-event-id'] = lastId;
        const res = await fetch(url, { headers: h, signal: ctrl.signal, cache: 'no-store' });
        if (res.status !== 200 || !res.body) throw new Error(`the stream answered ${res.status}`);
        failures = 0;
        onOpen?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const f of parser.push(value)) {
            if (f.comment !== undefined) continue;
            if (f.id !== null) lastId = f.id;
            onEvent?.({ id: f.id, event: f.event, data: parseData(f.data) });
          }
        }
      } catch { /* failed or stopped: below */ }
      if (stopped) break;
      failures += 1;
      onFail?.(failures);
      await wait(Math.min((parser.retryMs ?? 1000) * 2 ** (failures - 1), 30_000));
    }
  })();
  return {
    stop() {
      stopped = true;
      ctrl?.abort();
    },
  };
}

if (typeof window !== 'undefined') window.PilotStream = { listen };
