import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Bus, ChainCache } from '@livemesh/bus';
import { BUCKETS, NotFoundError, parseSegmentSubject, type ChainSpec } from '@livemesh/contracts';

/** What ingest needs of a chain: where hop 0 listens, and the version to stamp on segments. */
export interface FirstHop {
  subject: string;
  chainVersion: number;
}

/**
 * Hop 0 of each stream's chain, from the bus's ChainCache (the one the stage runner uses too): the
 * chains are mirrored from `lm_chains` by a KV watch ordered by revision, so a segment does not wait
 * on a KV read and a late watch event never brings back an older chain.
 */
@Injectable()
export class FirstHops implements OnApplicationShutdown {
  private readonly logger = new Logger(FirstHops.name);
  private readonly chains: ChainCache;

  constructor(@Inject(Bus) bus: Bus) {
    this.chains = new ChainCache(bus.store(BUCKETS.chains));
  }

  start(): Promise<void> {
    return this.chains.start();
  }

  /** Hop 0 of the stream's newest chain; NotFoundError when there is no usable chain. */
  async firstHop(streamId: string): Promise<FirstHop> {
    const spec = await this.chains.get(streamId);
    if (!spec) throw new NotFoundError(`stream ${streamId} has no chain spec in ${BUCKETS.chains}`);
    return checkFirstHop(streamId, spec);
  }

  onApplicationShutdown(): void {
    this.chains.stop();
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
