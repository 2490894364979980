// The workerd process that runs a worker under `wrangler dev`, and what it spends: CPU time
// (ns per thread, from the scheduler) and resident memory. Linux /proc only.
import { readFileSync, readdirSync } from 'node:fs';

/** The workerd process of wrangler's process group that runs the workers (it has the
 * inspector); with `{ proxy: true }` the other one, wrangler's proxy in front of it, which every
 * request passes through (its CPU per request is the yardstick of the machine's speed). */
export function workerProcess(groupPid, { proxy = false } = {}) {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const pgid = Number(fields[2]);
      if (comm !== 'workerd' || pgid !== groupPid) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('--inspector-addr') !== proxy) return Number(pid);
    } catch { /* gone */ }
  }
  throw new Error(`no workerd ${proxy ? 'proxy' : 'with an inspector'} in process group ${groupPid}`);
}

/** The CPU time of `pid`, all threads, in µs: the scheduler's nanosecond count of each thread
 * (/proc/PID/task/TID/schedstat), which utime + stime sample in 10 ms ticks. */
export function cpuUs(pid) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    throw new Error(`workerd ${pid} is gone: wrangler restarts it when a watched file (crates/, Cargo.toml) changes, so leave them alone while the bench runs`);
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* thread gone */ }
  }
  return ns / 1000;
}

/** The resident memory of `pid`, in KiB. */
export function rssKiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}
