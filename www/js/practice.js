// The /try page: shows the cohort and isolation state, and on Start asks for the microphone
// (after a labelled primer dialog) and sets up a SharedArrayBuffer when isolated.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
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
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      $('mic').textContent = 'granted';
      stream.getTracks().forEach(function (t) { t.stop(); });
    }, function (err) {
      $('mic').textContent = 'denied (' + (err && err.name ? err.name : 'error') + ')';
    });
  }

  $('start').addEventListener('click', function () {
    setupSharedMemory();
    var primer = $('primer');
    if (typeof primer.showModal !== 'function') { askMicrophone(); return; }
    primer.returnValue = '';
    primer.showModal();
  });
  $('primer').addEventListener('close', function () {
    if ($('primer').returnValue === 'continue') askMicrophone();
    else $('mic').textContent = 'not now';
  });
})();
