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

if (typeof window !== 'undefined') window.PilotDiff = { diffLines };
