import type { TransferDecl } from '@livemesh/contracts';

/**
 * Schemas of the transfer parameters (`Lm-Transfer`) the built-in services pass down the chain.
 * One definition per parameter, so an emitter and its readers cannot drift apart.
 */
export const TRANSFER_SCHEMAS = {
  /** Picture size after the stage (delivery writes RESOLUTION into the multivariant playlist). */
  width: { type: 'integer', minimum: 16, maximum: 7680 },
  height: { type: 'integer', minimum: 16, maximum: 4320 },
  videoBitrateKbps: { type: 'integer', minimum: 100, maximum: 20000 },
  fps: { type: 'number', exclusiveMinimum: 0, maximum: 120 },
  audioGainDb: { type: 'number', minimum: -100, maximum: 100 },
  muted: { type: 'boolean' },
  /**
   * Scene cuts detect saw in the segment: seconds on the source timeline (like Lm-Pts), ascending;
   * empty when it saw none (or does not look for them), so a stale list never travels on.
   */
  sceneCuts: { type: 'array', maxItems: 64, items: { type: 'number', minimum: 0 } },
} as const satisfies Record<string, Record<string, unknown>>;

/** `emits` of a declaration: the named parameters with their shared schemas. */
export function emitsOf(...names: (keyof typeof TRANSFER_SCHEMAS)[]): NonNullable<TransferDecl['emits']> {
  return Object.fromEntries(names.map((n) => [n, structuredClone(TRANSFER_SCHEMAS[n]) as Record<string, unknown>]));
}
