import { setTimeout as sleep } from 'node:timers/promises';
import { carryKey, type SegmentMeta } from '@livemesh/contracts';
import type { Carry, CarryStore } from '@livemesh/bus';
import type { SegmentCarry, StageLog } from './stage.definition.js';

/** How often previous() looks again while the predecessor's replica is still at work. */
const POLL_MS = 40;
/** Longest wait a stage may ask for: past it the segment would be late for delivery anyway. */
export const MAX_CARRY_WAIT_MS = 10_000;

/** Stored around the stage's own carry so a reader can tell a carry from another timeline. */
interface Envelope {
  epoch: number;
  meta: Record<string, unknown>;
}

/** ctx.carry for one segment. */
export class SegmentCarryAccess implements SegmentCarry {
  constructor(
    private readonly store: CarryStore,
    private readonly meta: Pick<SegmentMeta, 'streamId' | 'hop' | 'rendition' | 'seq' | 'epoch'>,
    private readonly signal: AbortSignal,
    private readonly log: StageLog,
  ) {}

  async previous(options?: { waitMs?: number }): Promise<Carry | undefined> {
    const { streamId, hop, rendition, seq, epoch } = this.meta;
    if (seq === 0) return undefined;
    const key = carryKey(streamId, hop, rendition, seq - 1);
    const deadline = performance.now() + Math.min(Math.max(0, options?.waitMs ?? 0), MAX_CARRY_WAIT_MS);
    for (;;) {
      let found: Carry | undefined;
      try {
        found = await this.store.get(key);
      } catch (e) {
        // A carry is an improvement, never a requirement: an unreadable one is skipped.
        this.log.warn(`carry of seq ${seq - 1} skipped: ${(e as Error).message}`);
        return undefined;
      }
      if (found) {
        const envelope = found.meta as Partial<Envelope>;
        if (envelope.epoch !== epoch || envelope.meta === null || typeof envelope.meta !== 'object') return undefined;
        return { meta: envelope.meta, data: found.data };
      }
      if (performance.now() >= deadline || this.signal.aborted) return undefined;
      await sleep(POLL_MS, undefined, { signal: this.signal }).catch(() => undefined);
    }
  }

  async leave(carry: Carry): Promise<void> {
    const { streamId, hop, rendition, seq, epoch } = this.meta;
    try {
      await this.store.put(carryKey(streamId, hop, rendition, seq), { meta: { epoch, meta: carry.meta } satisfies Envelope, data: carry.data });
    } catch (e) {
      this.log.warn(`carry for seq ${seq + 1} not stored: ${(e as Error).message}`);
    }
  }
}
