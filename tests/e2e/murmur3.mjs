// MurmurHash3 x86 32-bit and the flagd-v2 rollout check, in plain JS: an independent
// implementation that the end-to-end tests compare the worker against, and that the plain-JS
// gate of the benchmark uses.

/** murmur3_x86_32 of a UTF-8 string. */
export function murmur3(str, seed = 0) {
  const bytes = new TextEncoder().encode(str);
  let h = seed >>> 0;
  const n = bytes.length & ~3;
  for (let i = 0; i < n; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (bytes.length & 3) {
    case 3: k ^= bytes[n + 2] << 16; // falls through
    case 2: k ^= bytes[n + 1] << 8; // falls through
    case 1: k ^= bytes[n];
      k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Whether targetingKey is in a rollout of basisPoints for flagKey (flagd v2 fractional). */
export function inRollout(flagKey, targetingKey, basisPoints) {
  const h = BigInt(murmur3(flagKey + targetingKey));
  const bucket = Number((h * 10000n) >> 32n);
  return bucket < Math.min(basisPoints, 10000);
}
