import { Supervisor, restartDelay, type RestartPolicy } from './supervisor.js';

const policy: RestartPolicy = { initialDelayMs: 50, maxDelayMs: 400, resetAfterMs: 600 };

/** A supervisor over real `node -e` children, whose log lines a test can wait on. */
function supervised() {
  const lines: string[] = [];
  const sup = new Supervisor({ log: (name, line) => lines.push(`[${name}] ${line}`), restart: policy });
  const restarts = () => lines.map((l) => l.match(/exited unexpectedly \(code (\S+), signal (\S+)\) after [\d.]+ s up; restart (\d+) in (\d+) ms/)).filter((m) => m !== null);
  const until = async (n: number, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (restarts().length < n) {
      if (Date.now() > deadline) throw new Error(`fewer than ${n} restarts:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return restarts().map((m) => ({ code: m[1], restart: Number(m[3]), delayMs: Number(m[4]) }));
  };
  return { sup, lines, until };
}

describe('restartDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    expect([0, 1, 2, 3, 4, 50].map((n) => restartDelay({ initialDelayMs: 500, maxDelayMs: 15_000, resetAfterMs: 30_000 }, n))).toEqual([500, 1000, 2000, 4000, 8000, 15_000]);
  });
});

describe('Supervisor restarts (real child processes)', () => {
  it('restarts a child that keeps dying with growing delays, logging its exit code', async () => {
    const { sup, until } = supervised();
    await sup.start({ name: 'crasher', command: process.execPath, args: ['-e', 'setTimeout(() => process.exit(3), 30)'] });
    const seen = await until(4);
    await sup.stopAll(1000);
    expect(seen.slice(0, 4)).toEqual([
      { code: '3', restart: 1, delayMs: 50 },
      { code: '3', restart: 2, delayMs: 100 },
      { code: '3', restart: 3, delayMs: 200 },
      { code: '3', restart: 4, delayMs: 400 },
    ]);
  }, 20_000);

  it('forgets earlier crashes once a child has stayed up for resetAfterMs', async () => {
    const { sup, until } = supervised();
    await sup.start({ name: 'steady', command: process.execPath, args: ['-e', 'setTimeout(() => process.exit(4), 700)'] });
    const seen = await until(3);
    await sup.stopAll(1000);
    expect(seen.slice(0, 3).map((s) => s.delayMs)).toEqual([50, 50, 50]);
  }, 20_000);

  it('logs when a restarted child is ready again, and stopAll ends the restarts', async () => {
    const { sup, lines, until } = supervised();
    let readies = 0;
    await sup.start({ name: 'svc', command: process.execPath, args: ['-e', 'setTimeout(() => process.exit(5), 100)'], ready: async () => void readies++ });
    await until(1);
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => /\[svc\] ready again \(pid \d+, \d+ ms after restart 1\)/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sup.stopAll(1000);
    const after = lines.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(lines.some((l) => /ready again/.test(l))).toBe(true);
    expect(readies).toBeGreaterThanOrEqual(2);
    expect(lines.slice(after).filter((l) => /restart/.test(l))).toEqual([]);
  }, 20_000);
});
