import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import { BUCKETS, NotFoundError, parseSegmentSubject, type ChainSpec } from '@livemesh/contracts';

/** What ingest needs of a chain: where hop 0 listens, and the version to stamp on segments. */
export interface FirstHop {
  subject: string;
  chainVersion: number;
}

/**
 * The chain specs of every stream, mirrored from `lm_chains` by a KV watch so a segment does not
 * wait on a KV read; a miss (a chain written a moment ago) falls back to a read.
 */
@Injectable()
export class ChainCache implements OnApplicationShutdown {
  private readonly logger = new Logger(ChainCache.name);
  private readonly store: JsonStore<ChainSpec>;
  private readonly chains = new Map<string, ChainSpec>();
  private stopWatch?: () => void;

  constructor(@Inject(Bus) bus: Bus) {
    this.store = bus.store(BUCKETS.chains);
  }

  async start(): Promise<void> {
    this.stopWatch = await this.store.watch('*', (streamId, spec) => {
      if (spec === undefined) this.chains.delete(streamId);
      else this.chains.set(streamId, spec);
    });
  }

  /** Hop 0 of the stream's chain; NotFoundError when there is no usable chain. */
  async firstHop(streamId: string): Promise<FirstHop> {
    let spec = this.chains.get(streamId);
    if (!spec) {
      spec = (await this.store.get(streamId))?.value;
      if (spec) this.chains.set(streamId, spec);
    }
    if (!spec) throw new NotFoundError(`stream ${streamId} has no chain spec in ${BUCKETS.chains}`);
    return checkFirstHop(streamId, spec);
  }

  onApplicationShutdown(): void {
    this.stopWatch?.();
    this.logger.debug('chain watch stopped');
  }
}

/**
 * The chain spec comes from KV, written by another process: its hop 0 subject must be a segment
 * subject of this very stream at hop 0, or a bad spec could route segments into another stream.
 */
export function checkFirstHop(streamId: string, spec: ChainSpec): FirstHop {
  const hop = Array.isArray(spec?.hops) ? spec.hops[0] : undefined;
  const subject = typeof hop?.subject === 'string' ? hop.subject : '';
  const parsed = parseSegmentSubject(subject);
  if (!parsed || parsed.streamId !== streamId || parsed.hop !== 0) {
    throw new NotFoundError(`chain spec of stream ${streamId} has no valid hop 0 subject (got ${JSON.stringify(subject)})`);
  }
  const version = Number.isInteger(spec.version) && spec.version >= 0 ? spec.version : 0;
  return { subject, chainVersion: version };
}
