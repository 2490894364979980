// The /try page: shows the cohort and isolation state, and on Start asks for the microphone
// (after a labelled primer dialog, unless experiment E2 gives this visitor the browser's prompt
// alone) and sets up a SharedArrayBuffer when isolated. Its runtime config and experiment
// variants come from /api/config, evaluated by the edge for this visitor's signed identity;
// the server also attributes every beacon event to them.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var beacon = window.PilotBeacon || { track: function () {} };
  beacon.track('page_view', { path: location.pathname, isolated: window.crossOriginIsolated === true });
  window.addEventListener('error', function (e) {
    beacon.track('error', { message: String(e.message).slice(0, 200), source: String(e.filename || '').slice(0, 200) });
  });
  // Time to value: ms from navigation start to the first interaction.
  var interacted = false;
  function firstInteraction() {
    if (interacted) return;
    interacted = true;
    beacon.track('ttv', { ms: Math.round(performance.now()) });
  }
  ['pointerdown', 'keydown'].forEach(function (t) { document.addEventListener(t, firstInteraction, { once: true }); });
  $('cohort').textContent = window.pilotCohort() || 'unknown';
  $('isolated').textContent = String(window.crossOriginIsolated === true);

  function setupSharedMemory() {
    if (!window.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined') {
      $('shared-memory').textContent = 'unavailable (not isolated)';
      return null;
    }
    // One second of 48 kHz mono float samples, shareable with an audio worklet.
    var sab = new SharedArrayBuffer(48000 * Float32Array.BYTES_PER_ELEMENT);
    $('shared-memory').textContent = 'SharedArrayBuffer ' + sab.byteLength + ' bytes';
    return sab;
  }

  function askMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $('mic').textContent = 'not supported by this browser';
      return;
    }
    $('mic').textContent = 'asking...';
    beacon.track('mic_prompt');
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      $('mic').textContent = 'granted';
      beacon.track('mic_granted');
      beacon.track('activated', { shared_memory: sharedMemory !== null });
      stream.getTracks().forEach(function (t) { t.stop(); });
    }, function (err) {
      $('mic').textContent = 'denied (' + (err && err.name ? err.name : 'error') + ')';
      beacon.track('mic_denied', { reason: err && err.name ? err.name : 'error' });
    });
  }

  // Until /api/config answers (or if it fails): our primer and the page's own label.
  var config = { e2_primer: 'custom' };
  function applyConfig(values) {
    config = values || config;
    if (typeof config.e1_cta_copy === 'string') $('start').textContent = config.e1_cta_copy;
    $('e1').textContent = typeof config.e1_cta_copy === 'string' ? config.e1_cta_copy : 'default';
    $('e2').textContent = config.e2_primer === 'native' ? 'native (browser prompt only)' : 'custom (our primer first)';
    // The client stops syncing when the flag says so, with no deploy.
    $('sync').textContent = config.syncEnabled === false ? 'off' : 'on';
    document.documentElement.dataset.configLoaded = 'true';
  }
  fetch('/api/config', { credentials: 'same-origin' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(applyConfig, function () { applyConfig(null); });

  var sharedMemory = null;
  $('start').addEventListener('click', function () {
    sharedMemory = setupSharedMemory();
    var primer = $('primer');
    if (config.e2_primer === 'native' || typeof primer.showModal !== 'function') { askMicrophone(); return; }
    primer.returnValue = '';
    primer.showModal();
  });
  $('primer').addEventListener('close', function () {
    if ($('primer').returnValue === 'continue') askMicrophone();
    else $('mic').textContent = 'not now';
  });
})();
