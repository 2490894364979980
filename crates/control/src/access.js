// Cloudflare Access tokens' RS256 signatures, checked by the runtime's WebCrypto
// (RSASSA-PKCS1-v1_5 with SHA-256). Imported keys are kept per isolate by kid; only keys from
// the team's certs document ever reach here, so the map stays small.
const imported = new Map();

/** Whether `signature` is the RS256 signature of `data` under the RSA key (n, e), base64url. */
export async function verifyRs256(kid, n, e, signature, data) {
  // Copies first: the views point into wasm memory, which may move while this awaits.
  const sig = signature.slice();
  const bytes = data.slice();
  const id = `${kid}.${n}.${e}`;
  let key = imported.get(id);
  if (!key) {
    key = crypto.subtle.importKey('jwk', { kty: 'RSA', n, e, alg: 'RS256', ext: true },
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    imported.set(id, key);
    key.catch(() => imported.delete(id));
  }
  return crypto.subtle.verify('RSASSA-PKCS1-v1_5', await key, sig, bytes);
}
