import { once } from 'node:events';
import { SupervisedProcess, type ExitInfo } from './supervised.process.js';

const node = process.execPath;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

describe('SupervisedProcess', () => {
  const procs: SupervisedProcess[] = [];
  const group: SupervisedProcess[] = [];
  afterAll(() => Promise.all([...procs, ...group].map((p) => p.stop(100))));

  it('tells a failed start apart from an exit', async () => {
    const p = new SupervisedProcess('/nonexistent/ffmpeg', []);
    const events: string[] = [];
    p.on('started', () => events.push('started'));
    p.on('exited', () => events.push('exited'));
    const failed = once(p, 'start-failed');
    p.start();
    const [err] = (await failed) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ENOENT');
    await p.wait();
    expect(events).toEqual([]);
  });

  it('reports a crash as an unexpected exit and passes output line by line', async () => {
    const lines: string[] = [];
    const errs: string[] = [];
    const p = new SupervisedProcess(node, ['-e', 'console.log("a\\nb"); console.error("oops"); process.exit(3)'], { onStdoutLine: (l) => lines.push(l), onStderrLine: (l) => errs.push(l) });
    const started = once(p, 'started');
    const exited = once(p, 'exited');
    p.start();
    const [pid] = (await started) as [number];
    expect(pid).toBeGreaterThan(0);
    const [info] = (await exited) as [ExitInfo];
    expect(info).toEqual({ code: 3, signal: null, expected: false });
    expect(lines).toEqual(['a', 'b']);
    expect(errs).toEqual(['oops']);
  });

  it('stops with SIGTERM and marks the exit as expected', async () => {
    const p = new SupervisedProcess(node, ['-e', 'setInterval(() => {}, 1000)']).start();
    await once(p, 'started');
    expect(p.isRunning).toBe(true);
    expect(await p.stop(2000)).toEqual({ code: null, signal: 'SIGTERM', expected: true });
    expect(p.isRunning).toBe(false);
  });

  it('escalates to SIGKILL after the grace period', async () => {
    const ready = new Promise<void>((resolve) => {
      const p = new SupervisedProcess(node, ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'], { onStdoutLine: () => resolve() });
      procs.push(p.start());
    });
    await ready;
    const started = Date.now();
    const info = await procs[0]?.stop(300);
    expect(info?.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('kills the whole process group, grandchildren included', async () => {
    let grandchild = 0;
    const gotPid = new Promise<void>((resolve) => {
      const p = new SupervisedProcess(node, ['-e', 'const c = require("child_process").spawn("sleep", ["30"], { stdio: "ignore" }); console.log(c.pid); setInterval(() => {}, 1000)'], {
        processGroup: true,
        onStdoutLine: (l) => {
          grandchild = Number(l);
          resolve();
        },
      });
      group.push(p.start());
    });
    await gotPid;
    expect(alive(grandchild)).toBe(true);
    const info = await group[0]?.stop(2000);
    expect(info?.expected).toBe(true);
    expect(await until(() => !alive(grandchild), 2000)).toBe(true);
  });

  it('lets the child drain on SIGTERM: its own children get no signal until it exits', async () => {
    // The child waits for its grandchild to finish on SIGTERM, the way a worker lets its ffmpeg
    // finish the segment in hand; the grandchild proves it was not signalled by exiting 0.
    const script = `
      const c = require("child_process").spawn("sh", ["-c", "sleep 0.5; exit 0"], { stdio: "ignore" });
      process.on("SIGTERM", () => c.on("exit", (code, sig) => { console.log("grandchild " + code + " " + sig); process.exit(0); }));
      console.log("ready"); setInterval(() => {}, 1000);`;
    const lines: string[] = [];
    const ready = new Promise<void>((resolve) => {
      const p = new SupervisedProcess(node, ['-e', script], {
        processGroup: true,
        onStdoutLine: (l) => {
          lines.push(l);
          if (l === 'ready') resolve();
        },
      });
      group.push(p.start());
    });
    await ready;
    const info = await group[group.length - 1]?.stop(5000);
    expect(info).toMatchObject({ code: 0, expected: true });
    expect(lines).toContain('grandchild 0 null');
  });

  it('honours a stop() that comes before the child has spawned', async () => {
    const p = new SupervisedProcess(node, ['-e', 'setInterval(() => {}, 1000)']);
    group.push(p.start());
    const info = await p.stop(2000);
    expect(info.expected).toBe(true);
    expect(p.isRunning).toBe(false);
  });

  it('hands stdout over raw: bytes exactly as written, nothing read off it as lines', async () => {
    // Binary on purpose: NUL, lone CR/LF and invalid UTF-8 would not survive a line reader.
    const bytes = [0x47, 0x00, 0x0a, 0xff, 0x0d, 0x47, 0x80, 0x0a, 0x0a, 0xfe];
    const p = new SupervisedProcess(node, ['-e', `process.stdout.write(Buffer.from(${JSON.stringify(bytes)}))`], { stdout: 'raw' });
    expect(p.stdout).toBeNull();
    p.start();
    const out = p.stdout;
    expect(out).not.toBeNull();
    const chunks: Buffer[] = [];
    out?.on('data', (c: Buffer) => chunks.push(c));
    const info = await p.wait();
    expect(info).toEqual({ code: 0, signal: null, expected: false });
    expect([...Buffer.concat(chunks)]).toEqual(bytes);
  });

  it('pipes the raw stdout of one child into the stdin of another, as the reader of ingest feeds its segmenter', async () => {
    const size = 1024 * 1024; // well past a pipe's buffer: the writer must wait for the reader
    const writer = new SupervisedProcess(node, ['-e', `process.stdout.write(Buffer.alloc(${size}, 7))`], { stdout: 'raw' });
    const lines: string[] = [];
    const reader = new SupervisedProcess(node, ['-e', 'let n = 0; process.stdin.on("data", (c) => (n += c.length)).on("end", () => console.log(n))'], { stdin: 'pipe', onStdoutLine: (l) => lines.push(l) });
    procs.push(writer, reader);
    writer.start();
    reader.start();
    writer.stdout?.pipe(reader.stdin as NodeJS.WritableStream);
    const [w, r] = await Promise.all([writer.wait(), reader.wait()]);
    expect(w.code).toBe(0);
    expect(r.code).toBe(0);
    expect(lines).toEqual([String(size)]);
  }, 10_000);

  it('refuses a line callback on a raw stdout', () => {
    expect(() => new SupervisedProcess(node, [], { stdout: 'raw', onStdoutLine: () => undefined })).toThrow(TypeError);
  });
});
