// Wraps a flagd flag-definition file in the envelope the worker reads from KV
// (`{"version": ..., "document": ...}`, key `flagset` of CONFIG_KV) and writes it to OUT.
// The version is the first 16 hex digits of the file's SHA-256. Prints the version.
//   node scripts/lib/flagset.mjs FLAGS.json OUT.json
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const [file, out] = process.argv.slice(2);
if (!file || !out) {
  console.error('usage: node scripts/lib/flagset.mjs FLAGS.json OUT.json');
  process.exit(2);
}
const text = readFileSync(file, 'utf8');
let document;
try {
  document = JSON.parse(text);
} catch (e) {
  console.error(`flagset: ${file} is not JSON: ${e.message}`);
  process.exit(1);
}
if (!document || typeof document !== 'object' || typeof document.flags !== 'object') {
  console.error(`flagset: ${file} is not a flagd flag set (expected "flags": {...})`);
  process.exit(1);
}
const version = createHash('sha256').update(text).digest('hex').slice(0, 16);
writeFileSync(out, JSON.stringify({ version, document }));
console.log(version);
