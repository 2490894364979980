// An audit entry's diff as lines for people, shared by the admin page (a module script that
// also sets `window.PilotDiff`) and the operator CLI (`scripts/pilot audit`).
// The diff is RFC 6902 with a `test` before each `replace` and `remove`, so every line can say
// what was there: `+ path: new`, `- path: old`, `~ path: old -> new`.

/** Most lines shown for one entry. */
export const MAX_DIFF_LINES = 20;

const brief = (v) => {
  const t = JSON.stringify(v) ?? 'undefined';
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
};

/** The lines of `entry.diff` (at most MAX_DIFF_LINES and a count of the rest); a diff too large
 *  for the list (`diffBytes` without `diff`) is one line naming its entry's `seq`. */
export function diffLines(entry) {
  if (!entry.diff) return entry.diffBytes ? [`(a diff of ${entry.diffBytes} bytes: read entry ${entry.seq} alone)`] : [];
  const lines = [];
  let tested;
  for (const op of entry.diff) {
    if (op.op === 'test') { tested = op.value; continue; }
    const at = op.path || '(the whole document)';
    if (op.op === 'add') lines.push(`+ ${at}: ${brief(op.value)}`);
    else if (op.op === 'remove') lines.push(`- ${at}: ${brief(tested)}`);
    else if (op.op === 'replace') lines.push(`~ ${at}: ${brief(tested)} -> ${brief(op.value)}`);
    tested = undefined;
  }
  if (lines.length <= MAX_DIFF_LINES) return lines;
  return [...lines.slice(0, MAX_DIFF_LINES), `(${lines.length - MAX_DIFF_LINES} more)`];
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const pointer = (path, key) => `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** The RFC 6902 patch from `before` to `after` as the control plane writes it (a `test` of the
 *  old value before each `replace` and `remove`): the admin page's preview of a save. Arrays of
 *  another length are replaced whole. */
export function diff(before, after, path = '') {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObject(before) && isObject(after)) {
    const ops = [];
    for (const k of Object.keys(after)) {
      if (!(k in before)) ops.push({ op: 'add', path: pointer(path, k), value: after[k] });
      else ops.push(...diff(before[k], after[k], pointer(path, k)));
    }
    for (const k of Object.keys(before)) {
      if (!(k in after)) ops.push({ op: 'test', path: pointer(path, k), value: before[k] }, { op: 'remove', path: pointer(path, k) });
    }
    return ops;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((v, i) => diff(v, after[i], pointer(path, i)));
  }
  return [{ op: 'test', path, value: before }, { op: 'replace', path, value: after }];
}

if (typeof window !== 'undefined') window.PilotDiff = { diffLines, diff };
