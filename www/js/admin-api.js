// What the admin page and the dashboard share: the admin API client (the token kept in this tab,
// sessionStorage), its error with the API's reasons, UTC times, and the change feed (the
// operators' event stream, polling while it is down). A classic script: it defines
// `PilotAdmin` for the page's own script, loaded after it.
'use strict';

(() => {
  const store = window.sessionStorage;

  /** An answer of the admin API that is not 2xx, with its status and reasons. */
  class ApiError extends Error {
    constructor(status, body) {
      const reasons = body.reasons ? `: ${body.reasons.join('; ')}` : body.detail ? `: ${body.detail}` : '';
      super(`${status} ${body.error ?? 'error'}${reasons}`);
      this.status = status;
      this.body = body;
    }
  }

  /** Calls `/api/admin{route}` with the tab's token (which names the operator in the audit log);
   *  resolves to the body and the ETag, or rejects with an ApiError. */
  async function api(method, route, { body, headers = {} } = {}) {
    const h = { authorization: `Bearer ${store.getItem('pg-token')}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(`/api/admin${route}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await res.json().catch(() => ({ error: 'not_json' }));
    if (!res.ok) throw new ApiError(res.status, json);
    return { body: json, etag: res.headers.get('etag') };
  }

  /** A time in ms since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC). */
  const when = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');

  /** The sign-in error to show for a failed first call. */
  const signInError = (e) => (e.status === 401 ? 'That token names no operator.' : `Could not reach the control plane: ${e.message}`);

  /**
   * Calls `onChange(notice)` when the control plane says something changed: from the operators'
   * event stream (`/api/admin/events`: `{type: "audit" | "plan" | "stats" | "resync", ...}`),
   * and, while the stream is down, every `pollMs` (`{type: "poll"}`). `onMode("live" |
   * "polling")` says which. Needs `/js/event-stream.js` (window.PilotStream); without it, polls.
   */
  function watch(onChange, { pollMs = 5000, onMode } = {}) {
    let timer = null;
    const poll = () => {
      if (timer !== null) return;
      onMode?.('polling');
      timer = setInterval(() => onChange({ type: 'poll' }), pollMs);
    };
    const live = () => {
      clearInterval(timer);
      timer = null;
      onMode?.('live');
    };
    if (!window.PilotStream) {
      poll();
      return { stop: () => clearInterval(timer) };
    }
    let opened = false;
    const stream = window.PilotStream.listen('/api/admin/events', {
      headers: () => ({ authorization: `Bearer ${store.getItem('pg-token')}` }),
      onEvent: (ev) => onChange(ev.data),
      onOpen: () => {
        // A reconnection may have missed changes the stream could not replay: catch up once.
        if (opened) onChange({ type: 'resync' });
        opened = true;
        live();
      },
      onFail: poll,
    });
    return {
      stop() {
        stream.stop();
        clearInterval(timer);
      },
    };
  }

  /** What a role may do: `viewer` reads, `operator` runs commands, `admin` also edits. */
  const RANK = { viewer: 0, operator: 1, admin: 2 };
  const may = (role, needs) => (RANK[role] ?? -1) >= RANK[needs];

  window.PilotAdmin = {
    api,
    watch,
    ApiError,
    when,
    signInError,
    token: {
      get: () => store.getItem('pg-token'),
      set: (t) => store.setItem('pg-token', t),
      clear: () => store.removeItem('pg-token'),
    },
    may,
  };
})();
