// The visitor's cohort as the worker last set it in the page-readable pilot_cohort cookie
// ("pilot", "control"), or null. Display only: the server never trusts this cookie.
window.pilotCohort = function () {
  var m = document.cookie.match(/(?:^|;\s*)pilot_cohort=([^;]*)/);
  return m ? m[1] : null;
};
