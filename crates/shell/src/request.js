// Reads what the wasm shell needs of a request in one call: method, URL and the headers the core
// looks at, joined by "\n" (neither a URL nor a header value can hold one), an absent header
// as "\0" (no header value can hold one either).

const HEADERS = ['cookie', 'cf-connecting-ip', 'user-agent', 'cf-ray'];

export function requestFacts(request) {
  const h = request.headers;
  let out = `${request.method}\n${request.url}`;
  for (const name of HEADERS) out += `\n${h.get(name) ?? '\0'}`;
  return out;
}
