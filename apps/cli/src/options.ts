import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { parse } from 'yaml';
import { Bus } from '@livemesh/bus';

/** `k=v` pairs given with a repeatable option. */
export function collectPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** `service` or `service:{"json":"params"}` given with a repeatable --stage. */
export function collectStage(
  value: string,
  previous: { service: string; params?: Record<string, unknown> }[] = [],
): { service: string; params?: Record<string, unknown> }[] {
  const i = value.indexOf(':');
  if (i < 0) return [...previous, { service: value }];
  let params: unknown;
  try {
    params = JSON.parse(value.slice(i + 1));
  } catch (e) {
    throw new InvalidArgumentError(`the parameters of stage "${value.slice(0, i)}" are not JSON (${(e as Error).message}); write service:{"key":"value"}`);
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new InvalidArgumentError(`the parameters of stage "${value.slice(0, i)}" must be a JSON object`);
  }
  return [...previous, { service: value.slice(0, i), params: params as Record<string, unknown> }];
}

/** The flags both ways of starting a stream take (`stream start`, `platform start-event`). */
export interface StartFlags {
  pipeline?: string;
  stage?: unknown[];
  attr?: Record<string, string>;
  source?: string;
  /** commander's `--no-fuse` sets false. */
  fuse?: boolean;
}

/** A StartStreamRequest body from those flags; a flag not given is left out. */
export function startRequestBody(id: string, o: StartFlags): Record<string, unknown> {
  return {
    id,
    ...(o.pipeline ? { pipeline: o.pipeline } : {}),
    ...(o.stage ? { stages: o.stage } : {}),
    ...(o.attr ? { attributes: o.attr } : {}),
    ...(o.source ? { source: { url: o.source } } : {}),
    ...(o.fuse === false ? { fuse: false } : {}),
  };
}

/** A whole number of at least 0, for --replicas and the like. */
export function parseCount(value: string): number {
  if (!/^\d{1,4}$/.test(value)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return Number(value);
}

/** Reads a YAML or JSON file (YAML is a superset). */
export async function readSpecFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  try {
    return parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid YAML or JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Connects to the NATS server named by --nats; a CLI gives up after a few seconds instead of waiting for a server to appear. */
export function connectBus(program: Command, name: string): Promise<Bus> {
  const o = program.opts<{ nats: string; creds?: string }>();
  return Bus.connect({ url: o.nats, name, connectTimeoutMs: 5_000, ...(o.creds ? { credsFile: o.creds } : {}) });
}

export function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
