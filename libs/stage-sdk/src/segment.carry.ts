import { setTimeout as sleep } from 'node:timers/promises';
import { carryKey, type SegmentMeta } from '@livemesh/contracts';
import type { Carry, CarryEntry, CarryStore } from '@livemesh/bus';
import type { SegmentCarry, StageLog } from './stage.definition.js';

/** How often previous() looks again while the predecessor's replica is still at work. */
const POLL_MS = 40;
/** Longest wait a stage may ask for: past it the segment would be late for delivery anyway. */
export const MAX_CARRY_WAIT_MS = 10_000;
/** Compare-and-set rounds before leave() gives up (two replicas writing the same key at once). */
const WRITE_ROUNDS = 3;

/** Stored around the stage's own carry: which segment left it, on which timeline. */
interface Envelope {
  seq: number;
  epoch: number;
  meta: Record<string, unknown>;
}

function envelopeOf(entry: CarryEntry | undefined): (Envelope & { data: Uint8Array }) | undefined {
  if (!entry || !('carry' in entry)) return undefined;
  const e = entry.carry.meta as Partial<Envelope>;
  if (typeof e.seq !== 'number' || typeof e.epoch !== 'number' || e.meta === null || typeof e.meta !== 'object' || Array.isArray(e.meta)) return undefined;
  return { seq: e.seq, epoch: e.epoch, meta: e.meta, data: entry.carry.data };
}

/**
 * ctx.carry for one segment. One value per stream, hop and rendition, overwritten segment by
 * segment (the bucket stays one small value per live stream and hop): what segment seq left is
 * there until seq + 1 or a later one replaces it, and an older segment never replaces a newer one.
 */
export class SegmentCarryAccess implements SegmentCarry {
  private readonly key: string;
  private pending?: Carry;
  /** The value previous() last read: commit() first tries to replace exactly that, saving a read per segment. */
  private seen?: { entry: CarryEntry | undefined };

  constructor(
    private readonly store: CarryStore,
    private readonly meta: Pick<SegmentMeta, 'streamId' | 'hop' | 'rendition' | 'seq' | 'epoch'>,
    private readonly signal: AbortSignal,
    private readonly log: StageLog,
  ) {
    this.key = carryKey(meta.streamId, meta.hop, meta.rendition);
  }

  async previous(options?: { waitMs?: number }): Promise<Carry | undefined> {
    const { seq, epoch } = this.meta;
    if (seq === 0) return undefined;
    const deadline = performance.now() + Math.min(Math.max(0, options?.waitMs ?? 0), MAX_CARRY_WAIT_MS);
    for (;;) {
      const entry = await this.read();
      this.seen = { entry };
      if (entry && 'unreadable' in entry) {
        // A carry is an improvement, never a requirement: an unreadable one is skipped.
        this.log.warn(`carry for seq ${seq} skipped: ${entry.unreadable}`);
        return undefined;
      }
      const found = envelopeOf(entry);
      if (found && found.seq === seq - 1) return found.epoch === epoch ? { meta: found.meta, data: found.data } : undefined;
      // This segment (an earlier attempt) or a later one has already replaced it: it is gone.
      if (found && found.seq >= seq) return undefined;
      if (performance.now() >= deadline || this.signal.aborted) return undefined;
      await sleep(POLL_MS, undefined, { signal: this.signal }).catch(() => undefined);
    }
  }

  leave(carry: Carry): void {
    this.pending = carry;
  }

  /**
   * Stores what the stage left, once the segment's output is stored (the runner calls this before
   * the ack): an attempt that fails leaves nothing, so its retry still finds its predecessor's carry.
   * Never throws: a carry that cannot be stored only costs the next segment its continuity.
   */
  async commit(): Promise<void> {
    const carry = this.pending;
    if (!carry) return;
    const { seq, epoch } = this.meta;
    try {
      for (let round = 0; round < WRITE_ROUNDS; round++) {
        // Another writer since that read only costs a failed compare-and-set and a fresh read.
        const entry = round === 0 && this.seen ? this.seen.entry : await this.store.get(this.key);
        const current = envelopeOf(entry);
        // A later segment finished first (it did not wait for this one): keep what it left.
        if (current && current.seq > seq) return;
        const envelope: Envelope = { seq, epoch, meta: carry.meta };
        if (await this.store.put(this.key, { meta: { ...envelope }, data: carry.data }, entry?.revision)) return;
      }
      this.log.warn(`carry for seq ${seq + 1} not stored: the value kept changing under ${WRITE_ROUNDS} attempts`);
    } catch (e) {
      this.log.warn(`carry for seq ${seq + 1} not stored: ${(e as Error).message}`);
    }
  }

  /** For previous(): a store that cannot be reached counts as an unreadable carry. */
  private async read(): Promise<CarryEntry | undefined> {
    try {
      return await this.store.get(this.key);
    } catch (e) {
      return { revision: 0, unreadable: (e as Error).message };
    }
  }
}
