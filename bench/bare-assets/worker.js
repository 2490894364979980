// Benchmark floor (a2): every request passed to env.ASSETS, nothing else.
export default {
  fetch(request, env) {
    return env.ASSETS.fetch(request);
  },
};
