// Processes the benchmark starts, and what they cost, read from /proc: CPU as utime+stime of the
// process itself and, separately, of its descendants (the ffmpeg runs a worker spawned and reaped,
// and the lm-engine processes it keeps alive), and resident memory (VmRSS). Linux only, like the
// machines this benchmark describes.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ); 100 on every Linux this runs on. */
const CLK_TCK = 100;

/** The fields of /proc/<pid>/stat after the command name, or undefined when the process is gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process: `self` (its own threads) and `children` (its reaped descendants). */
export function cpuOf(pid) {
  const fields = statFields(pid);
  if (!fields) return undefined;
  // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]) / CLK_TCK);
  return { self: utime + stime, children: cutime + cstime };
}

/** pid -> the pids whose parent it is, for every process now alive (one pass over /proc). */
function childMap() {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const fields = statFields(d);
    if (!fields) continue;
    const ppid = Number(fields[1]);
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(Number(d));
  }
  return kids;
}

/** The live descendants of `pid` (children, their children, ...). */
export function descendantsOf(pid, kids = childMap()) {
  const out = [];
  const walk = (p) => {
    for (const c of kids.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** The live children of `pid` (an orchestrator's worker replicas, a worker's engines). */
export function childrenOf(pid) {
  return childMap().get(pid) ?? [];
}

/**
 * CPU seconds of a process tree: `self` (the process's own threads) and `children`: the
 * descendants it reaped (cutime, where a per-segment ffmpeg ends up) plus, recursively, those
 * still alive (a warm lm-engine lives for hundreds of segments and is never reaped during a
 * run, so cutime alone would miss it). A child that is reaped between two snapshots moves from
 * the live sum into cutime with all its CPU, so differences stay right.
 */
export function treeCpuOf(pid, kids = childMap()) {
  const own = cpuOf(pid);
  if (!own) return undefined;
  let below = own.children;
  for (const c of kids.get(pid) ?? []) {
    const t = treeCpuOf(c, kids);
    if (t) below += t.self + t.children;
  }
  return { self: own.self, children: below };
}

/** Resident set size in bytes, or undefined when the process is gone. */
export function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** This process's CPU seconds (self) and that of the children it has reaped (short ffmpeg runs). */
export function selfCpu() {
  return cpuOf(process.pid);
}

/**
 * A snapshot of several process trees' CPU: { name: {self, children} }, children = reaped and
 * live descendants (treeCpuOf).
 */
export function snapshotCpu(pids) {
  const kids = childMap();
  const out = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = treeCpuOf(pid, kids) ?? { self: 0, children: 0 };
  return out;
}

/** Resident memory of a process and its live descendants (a worker and its engines), bytes. */
export function treeRssOf(pid) {
  const self = rssOf(pid);
  if (self === undefined) return undefined;
  const below = descendantsOf(pid).map((p) => rssOf(p) ?? 0);
  return { self, descendants: below.reduce((a, b) => a + b, 0), processes: 1 + below.length, total: self + below.reduce((a, b) => a + b, 0) };
}

/** after - before, per name and kind. */
export function diffCpu(before, after) {
  const out = {};
  for (const name of Object.keys(after)) {
    const b = before[name] ?? { self: 0, children: 0 };
    out[name] = { self: after[name].self - b.self, children: after[name].children - b.children };
  }
  return out;
}

const live = new Set();
process.once('exit', () => {
  for (const child of live) {
    try {
      // Each long-running child leads its own group, so its ffmpeg children go with it.
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/**
 * Starts a long-running child (nats-server, a worker, the orchestrator) in its own process group,
 * keeping the last lines of its output for error messages.
 */
export function startChild(name, cmd, args, { env = {}, cwd } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  const lines = [];
  const waiters = new Set();
  let partial = '';
  const onData = (chunk) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 300) lines.shift();
      for (const w of waiters) if (w.pattern.test(line)) { waiters.delete(w); w.resolve(line); }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); }));
  return {
    name,
    pid: child.pid,
    child,
    exited,
    tail: (n = 20) => lines.slice(-n).join('\n'),
    /** Resolves on the first output line matching `pattern`; rejects on exit or after timeoutMs. */
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve: (l) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`)); }, timeoutMs);
        waiters.add(w);
        void exited.then(({ code, signal }) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`${name} exited (${signal ?? `code ${code}`}) before printing ${pattern}:\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
    /** SIGTERM to the group, SIGKILL after graceMs; resolves once the leader has exited. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      const r = await exited;
      clearTimeout(timer);
      // Whatever the leader left behind in its group (an ffmpeg mid-run) goes too.
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      return r;
    },
  };
}

/** Runs a command to completion (argument array, no shell); resolves with stdout, stderr and times. */
export function runToEnd(cmd, args, { input, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    if (input) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) return reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')}... failed (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      resolve({ stdout: Buffer.concat(out), stderr, ms: performance.now() - started });
    });
  });
}

/** The first line of `<cmd> <args>`' output, or 'unknown'. */
export async function versionOf(cmd, args) {
  try {
    const { stdout, stderr } = await runToEnd(cmd, args, { timeoutMs: 10_000 });
    return (stdout.toString('utf8') || stderr).split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a truthy value or the deadline passes. */
export async function waitFor(check, timeoutMs, what, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
