import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/** `k=v` pairs given with a repeatable option. */
export function collectPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new Error(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** `service` or `service:{"json":"params"}` given with a repeatable --stage. */
export function collectStage(
  value: string,
  previous: { service: string; params?: Record<string, unknown> }[] = [],
): { service: string; params?: Record<string, unknown> }[] {
  const i = value.indexOf(':');
  if (i < 0) return [...previous, { service: value }];
  const params = JSON.parse(value.slice(i + 1)) as Record<string, unknown>;
  return [...previous, { service: value.slice(0, i), params }];
}

/** Reads a YAML or JSON file (YAML is a superset). */
export async function readSpecFile(path: string): Promise<unknown> {
  return parse(await readFile(path, 'utf8'));
}

export function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
