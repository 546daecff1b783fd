import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ENV, BUCKETS, STREAMS, type DeliveryPosition, type DeliveryStreamCheckpoint, type DeliverySettings } from '@livemesh/contracts';
import { Bus, JsonStore } from '@livemesh/bus';
import { BadCheckpointError, POSITION_KEY, decodePosition, decodeStreamCheckpoint, streamCheckpointKey } from './checkpoint.codec.js';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';

/**
 * Delivery's checkpoints in `lm_delivery`, so a restart goes on where the playlists stood instead
 * of reading every payload LM_OUT retains again (docs/design.md, "Delivery restarts").
 *
 * Every DELIVERY_CHECKPOINT_SECONDS (and at shutdown) the streams changed since the last round are
 * written, one key each, then `position` = the last LM_OUT sequence handled: a position is written
 * only once every stream it covers is. At boot every stream is restored (entries without bytes)
 * and LM_OUT is read from the lowest point any of them needs; a message at or before its stream's
 * point is passed over without its payload or blob being read. No position: everything is read,
 * as before checkpoints existed.
 */
@Injectable()
export class DeliveryCheckpointer implements OnModuleDestroy {
  private readonly logger = new Logger(DeliveryCheckpointer.name);
  private readonly store: JsonStore<DeliveryStreamCheckpoint | DeliveryPosition>;
  private readonly everyMs: number;
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  /** Last LM_OUT sequence whose message was handled (or passed over). */
  private handledSeq?: number;
  /** Per stream: messages at or before it are already in the restored playlists. */
  private readonly heldUpTo = new Map<string, number>();
  /** For a stream with no checkpoint: messages at or before the position belong to streams forgotten before it. */
  private forgottenUpTo = -1;
  /** The next round writes every stream (after a failed write or at boot). */
  private writeAll = true;
  private failing = false;

  constructor(
    private readonly bus: Bus,
    @Inject(ENV) env: DeliverySettings,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.store = bus.store(BUCKETS.delivery);
    this.everyMs = env.DELIVERY_CHECKPOINT_SECONDS * 1000;
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /**
   * Restores the checkpointed streams into the registry and starts the periodic writes. Resolves
   * to the LM_OUT sequence to read after, or undefined to read all LM_OUT retains.
   */
  async restore(): Promise<number | undefined> {
    let resumeAfter: number | undefined;
    if (this.everyMs > 0) resumeAfter = await this.load().catch((e: Error) => {
      this.logger.warn(`checkpoint not read (${e.message}); reading all LM_OUT retains`);
      this.heldUpTo.clear();
      this.forgottenUpTo = -1;
      return undefined;
    });
    this.metrics.resumedAfter.set(resumeAfter ?? -1);
    if (this.everyMs > 0) {
      this.timer = setInterval(() => void this.write(), this.everyMs);
      this.timer.unref();
    }
    return resumeAfter;
  }

  /** Whether the message at LM_OUT `seq` of `streamId` is already in a restored playlist (its payload is not read). */
  alreadyHeld(streamId: string, seq: number): boolean {
    return seq <= (this.heldUpTo.get(streamId) ?? this.forgottenUpTo);
  }

  /** The message at LM_OUT `seq` was handled: the registry holds everything up to it. */
  handled(seq: number): void {
    this.handledSeq = seq;
  }

  /** Writes a last checkpoint (SIGTERM, after the consumer stopped). */
  async flush(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    if (this.everyMs > 0) await this.write();
  }

  private async load(): Promise<number | undefined> {
    const position = await this.store.get(POSITION_KEY);
    if (!position) return undefined;
    const { lastSeq } = decodePosition(position.value);
    // LM_OUT was made again since (its sequences start over): the refs and the position are another stream's.
    const out = await this.bus.streamInfo(STREAMS.output);
    if (lastSeq > out.lastSeq) {
      this.logger.warn(`checkpoint position ${lastSeq} is past LM_OUT's last seq ${out.lastSeq}; reading all LM_OUT retains`);
      return undefined;
    }
    let resumeAfter = lastSeq;
    let restored = 0;
    for (const key of await this.store.keys('stream.*')) {
      const entry = await this.store.get(key);
      if (!entry) continue;
      let cp: DeliveryStreamCheckpoint;
      try {
        cp = decodeStreamCheckpoint(entry.value, key);
      } catch (e) {
        if (!(e instanceof BadCheckpointError)) throw e;
        // Its stream's messages must be read from the start: so must every stream's without a checkpoint.
        this.logger.warn(`checkpoint ${key} refused (${e.message}); its stream is read from LM_OUT`);
        this.forgottenUpTo = -1;
        return this.loadedWithout(undefined, restored);
      }
      this.registry.restore(cp);
      this.heldUpTo.set(cp.streamId, cp.resumeAfter);
      resumeAfter = Math.min(resumeAfter, cp.resumeAfter);
      restored++;
    }
    this.forgottenUpTo = lastSeq;
    this.handledSeq = lastSeq;
    return this.loadedWithout(resumeAfter, restored);
  }

  private loadedWithout(resumeAfter: number | undefined, restored: number): number | undefined {
    this.metrics.restoredStreams.set(restored);
    this.logger.log(`restored ${restored} stream(s) from their checkpoints; reading LM_OUT ${resumeAfter === undefined ? 'from the start' : `after seq ${resumeAfter}`}`);
    return resumeAfter;
  }

  private write(): Promise<void> {
    if (this.writing || this.handledSeq === undefined) return this.writing ?? Promise.resolve();
    const at = this.handledSeq;
    // Taken at once (no await between): the registry holds exactly the messages up to `at`.
    const streams = this.registry.checkpoints(at, !this.writeAll);
    const gone = this.registry.takeForgotten();
    this.writeAll = false;
    this.writing = (async () => {
      try {
        for (const cp of streams) await this.store.put(streamCheckpointKey(cp.streamId), cp);
        for (const id of gone) await this.store.delete(streamCheckpointKey(id));
        await this.store.put(POSITION_KEY, { kind: 'position', lastSeq: at, takenAt: new Date().toISOString() });
        this.metrics.checkpointWrites.inc({ result: 'ok' });
        if (this.failing) this.logger.log(`checkpoints written again (LM_OUT seq ${at})`);
        this.failing = false;
      } catch (e) {
        this.metrics.checkpointWrites.inc({ result: 'failed' });
        this.writeAll = true;
        for (const id of gone) this.registry.forgetLater(id);
        if (!this.failing) this.logger.warn(`checkpoint not written (${(e as Error).message}); the next round writes every stream`);
        this.failing = true;
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }
}
