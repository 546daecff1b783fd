import { Injectable, Logger } from '@nestjs/common';
import { STREAMS } from '@livemesh/contracts';
import { Bus, readSegment } from '@livemesh/bus';

const CACHE_ENTRIES = 64;

/**
 * Reads a time-shifted segment's bytes back from LM_OUT by its stream sequence. Only the live
 * window's bytes are held in memory; a viewer minutes behind live is served from the bus, with a
 * small cache because viewers who start at the same point ask for the same segments.
 */
@Injectable()
export class SegmentArchive {
  private readonly logger = new Logger(SegmentArchive.name);
  private readonly cache = new Map<number, Uint8Array>();

  constructor(private readonly bus: Bus) {}

  /** The bytes of `streamId/rendition#seq` stored at LM_OUT sequence `ref`; undefined when gone (aged out). */
  async read(ref: number, streamId: string, rendition: string, seq: number): Promise<Uint8Array | undefined> {
    const hit = this.cache.get(ref);
    if (hit) {
      this.cache.delete(ref);
      this.cache.set(ref, hit);
      return hit;
    }
    let stored;
    try {
      stored = await this.bus.getMessage(STREAMS.output, { seq: ref });
    } catch (e) {
      this.logger.debug(`LM_OUT seq ${ref} (${streamId}/${rendition}#${seq}) not readable: ${(e as Error).message}`);
      return undefined;
    }
    if (!stored) return undefined;
    const segment = await readSegment(this.bus, stored);
    // The index is ours, the stream is shared: make sure the message is the segment it names.
    if (segment.meta.streamId !== streamId || segment.meta.rendition !== rendition || segment.meta.seq !== seq) {
      this.logger.warn(`LM_OUT seq ${ref} holds ${segment.meta.streamId}/${segment.meta.rendition}#${segment.meta.seq}, not ${streamId}/${rendition}#${seq}`);
      return undefined;
    }
    this.cache.set(ref, segment.data);
    while (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return segment.data;
  }
}
