// Reads a secret from the environment, else from .dev.vars (the local wrangler dev secrets).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The value of `name` from the environment or .dev.vars, or '' when neither has it. */
export function secret(name) {
  if (process.env[name]) return process.env[name];
  const file = path.join(ROOT, '.dev.vars');
  if (!existsSync(file)) return '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m && m[1] === name) return m[2];
  }
  return '';
}

/** Parses --flag value pairs into an object (numbers stay strings). */
export function flags(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || !(m[1] in defaults)) throw new Error(`unknown argument ${argv[i]}; known: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    out[m[1]] = argv[++i];
  }
  return out;
}
