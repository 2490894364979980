(function () {
  var cohort = window.pilotCohort();
  document.getElementById('cohort').textContent = cohort || 'not assigned yet';
  if (cohort === 'control') document.getElementById('sent-home').hidden = false;
})();
