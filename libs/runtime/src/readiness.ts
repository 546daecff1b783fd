import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '@livemesh/contracts';

/** Resolves when something accepts TCP connections on host:port; rejects after timeoutMs. */
export async function waitForTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  await until(`${host}:${port} accepting connections`, timeoutMs, () =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    }),
  );
}

/** Resolves when `url` answers 2xx; rejects after timeoutMs. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  await until(`${url} answering`, timeoutMs, async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  });
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let wait = 50;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 500);
  }
  throw new RuntimeError(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The entry file of a livemesh app (`@livemesh/<name>`'s main), found through package
 * resolution so it works from a checkout and from an installed image alike.
 */
export function appEntry(name: 'orchestrator' | 'ingest' | 'delivery' | 'worker' | 'cli'): string {
  return fileURLToPath(import.meta.resolve(`@livemesh/${name}`));
}
