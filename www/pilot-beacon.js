/*! pilot-beacon: a dependency-free client for pilot-gate's /api/events.
 * PilotBeacon.track(name, props) queues an event; id and ts are stamped once, so a retry or
 * a re-send is deduplicated by the server. Flushes with fetch keepalive while the page lives and
 * with sendBeacon on pagehide / visibilitychange; splits batches under the limits; retries with
 * backoff and honours Retry-After on 429/503. Never throws into the page. */
(function (w) {
  'use strict';
  var cfg = { url: '/api/events', maxEvents: 100, maxBytes: 50000, maxPropsBytes: 10240, flushMs: 2000, maxQueue: 1000 };
  var queue = [];
  var timer = 0;
  var backoffMs = 0;
  var blockedUntil = 0;
  var session = rid();

  function rid() {
    try {
      var b = new Uint8Array(16);
      w.crypto.getRandomValues(b);
      return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    } catch (e) {
      return (Date.now().toString(36) + Math.random().toString(36).slice(2)).slice(0, 32);
    }
  }

  function safe(fn) {
    return function () {
      try { return fn.apply(null, arguments); } catch (e) { /* never break the page */ }
    };
  }

  // Splits events into bodies under both limits; an event too big on its own is dropped here,
  // because the server would reject its whole batch.
  function batches(events) {
    var out = [];
    var cur = [];
    var size = 2;
    for (var i = 0; i < events.length; i++) {
      var s = JSON.stringify(events[i]).length + 1;
      if (s + 2 > cfg.maxBytes) continue;
      if (cur.length && (cur.length >= cfg.maxEvents || size + s > cfg.maxBytes)) {
        out.push(cur); cur = []; size = 2;
      }
      cur.push(events[i]); size += s;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  function schedule(ms) {
    if (timer) return;
    timer = setTimeout(safe(function () { timer = 0; flush(false); }), ms);
  }

  function send(batch, unloading) {
    var body = JSON.stringify(batch);
    if (unloading && navigator.sendBeacon) {
      // text/plain keeps sendBeacon free of a CORS preflight; the server accepts it.
      if (navigator.sendBeacon(cfg.url, new Blob([body], { type: 'text/plain' }))) return;
    }
    fetch(cfg.url, { method: 'POST', body: body, keepalive: body.length < 60000, headers: { 'Content-Type': 'application/json' } })
      .then(function (r) {
        if (r.status === 429 || r.status >= 500) {
          var ra = Number(r.headers.get('Retry-After'));
          retry(batch, ra > 0 ? ra * 1000 : 0);
        } else {
          backoffMs = 0; // 2xx, or a 4xx that a retry would not fix
        }
      }, function () { retry(batch, 0); });
  }

  function retry(batch, afterMs) {
    backoffMs = Math.min(backoffMs ? backoffMs * 2 : 1000, 60000);
    var wait = Math.max(afterMs, backoffMs * (0.5 + Math.random() / 2));
    blockedUntil = Date.now() + wait;
    queue = batch.concat(queue).slice(0, cfg.maxQueue);
    schedule(wait);
  }

  function flush(unloading) {
    if (!queue.length || (!unloading && Date.now() < blockedUntil)) return;
    var all = queue;
    queue = [];
    var parts = batches(all);
    for (var i = 0; i < parts.length; i++) send(parts[i], unloading);
  }

  var api = {
    /** Sets url, maxEvents, maxBytes, flushMs. */
    configure: safe(function (opts) { for (var k in opts) if (k in cfg) cfg[k] = opts[k]; }),
    /** Queues an event; returns its id. */
    track: safe(function (name, props) {
      var ev = { v: 1, id: rid(), name: String(name), ts: Date.now(), session: session };
      if (props && typeof props === 'object' && JSON.stringify(props).length <= cfg.maxPropsBytes) ev.props = props;
      if (queue.length < cfg.maxQueue) queue.push(ev);
      schedule(cfg.flushMs);
      return ev.id;
    }),
    /** Sends what is queued now (sendBeacon when unloading). */
    flush: safe(flush)
  };
  var onHide = safe(function () { if (document.visibilityState !== 'visible') flush(true); });
  w.addEventListener('pagehide', safe(function () { flush(true); }));
  document.addEventListener('visibilitychange', onHide);
  w.PilotBeacon = api;
})(window);
