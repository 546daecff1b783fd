import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BUILT = new URL('../dist/supervised.child.js', import.meta.url);

/**
 * A real process shaped like a Nest app: its shutdown hook drains for `drainMs`, ignores signals
 * meanwhile, then removes its listener and re-raises the signal, as Nest's enableShutdownHooks does.
 */
function nestLike(drainMs: number) {
  if (!existsSync(fileURLToPath(BUILT))) throw new Error(`${fileURLToPath(BUILT)} is missing; run the build first`);
  const script = `
    import { exitOnSecondSignal } from ${JSON.stringify(BUILT.href)};
    let shuttingDown = false;
    const hook = (sig) => {
      if (shuttingDown) return;
      shuttingDown = true;
      console.log('draining');
      setTimeout(() => { console.log('drained'); process.removeListener('SIGTERM', hook); process.kill(process.pid, sig); }, ${drainMs});
    };
    process.on('SIGTERM', hook);
    exitOnSecondSignal();
    console.log('ready');
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ signal: NodeJS.Signals | null; at: number }>((r) => child.once('exit', (_code, signal) => r({ signal, at: Date.now() })));
  const printed = async (word: string) => {
    const deadline = Date.now() + 10_000;
    while (!out.includes(word)) {
      if (Date.now() > deadline) throw new Error(`no "${word}" in ${JSON.stringify(out)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { child, exited, printed, output: () => out };
}

describe('exitOnSecondSignal (real processes)', () => {
  it('leaves a single SIGTERM to the graceful shutdown, which ends the process by that signal', async () => {
    const p = nestLike(300);
    await p.printed('ready');
    p.child.kill('SIGTERM');
    const { signal } = await p.exited;
    expect(signal).toBe('SIGTERM');
    expect(p.output()).toContain('drained');
  }, 15_000);

  it('ends the process at once on a second signal during the drain', async () => {
    const p = nestLike(8000);
    await p.printed('ready');
    p.child.kill('SIGTERM');
    await p.printed('draining');
    const secondAt = Date.now();
    p.child.kill('SIGTERM');
    const { signal, at } = await p.exited;
    expect(signal).toBe('SIGTERM');
    expect(p.output()).not.toContain('drained');
    expect(at - secondAt).toBeLessThan(2000);
  }, 15_000);
});
