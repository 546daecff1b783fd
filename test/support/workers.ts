// The worker processes of one mesh's process runtime, seen from outside (/proc): what a fault test
// counts to tell an orphan or a duplicate worker from the replicas the orchestrator wants.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Worker processes of one mesh, by service: found by their environment (every worker of the
 * process runtime carries LIVEMESH_SERVICE and its mesh's NATS_URL), so other meshes on the
 * machine are not counted, and a worker whose orchestrator is gone is counted all the same.
 */
export function workerPids(natsUrl: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    let cmdline: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile, or not ours
    }
    const vars = environ.split('\0');
    const service = vars.find((v) => v.startsWith('LIVEMESH_SERVICE='))?.slice('LIVEMESH_SERVICE='.length);
    if (!service || !vars.includes(`NATS_URL=${natsUrl}`) || !vars.some((v) => v.startsWith('LIVEMESH_WORKER_ID='))) continue;
    // Only the worker itself: its engines and ffmpeg inherit the environment too.
    if (!cmdline.includes(join('apps', 'worker', 'dist', 'main.js'))) continue;
    found.set(service, [...(found.get(service) ?? []), Number(entry)]);
  }
  return found;
}

/** Worker processes per service, keys sorted: comparable with toEqual and printable. */
export const workerCounts = (m: Map<string, number[]>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, v.length] as const).sort());

/** The process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
