// Benchmark floor (a): the smallest worker, a fixed small response.
export default {
  fetch() {
    return new Response('ok', { headers: { 'content-type': 'text/plain' } });
  },
};
