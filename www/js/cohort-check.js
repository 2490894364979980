// Client-side gate of the seed design, run before the page renders: a visitor whose cohort
// cookie says "control" goes home. The server enforces the gate anyway; this catches a tab
// that outlived a change of cohort.
if (window.pilotCohort() === 'control') location.replace('/');
