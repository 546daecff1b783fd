import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, isNotFound } from '@livemesh/bus';
import { STREAMS, parseOutputSubject, subjects, type StreamView } from '@livemesh/contracts';

/** Segments of one stream at one position of its chain. */
export interface HopCounters {
  /** Segments that have passed this hop: now further down the chain, dead-lettered further down, or out. */
  processed: number;
  /** Segments waiting for this hop or being processed by it right now. */
  pending: number;
  /** Segments this hop's service gave up on (dead-lettered) for the stream. */
  failed: number;
}

type HopView = StreamView['chain']['hops'][number];

/** GET /api/streams/:id: the stream view with counters per hop and per output rendition. */
export interface StreamDetailView extends Omit<StreamView, 'chain'> {
  chain: { version: number; hops: (HopView & { counters: HopCounters })[] };
  /** Finished segments per rendition, within the output retention window (OUTPUT_RETENTION_SECONDS). */
  output: { segments: Record<string, number> };
}

/** What JetStream holds for one stream, per subject. */
export interface StreamCounts {
  /** LM_SEG messages per hop input subject. */
  pending: Record<string, number>;
  /** LM_DLQ messages per service. */
  deadLettered: Record<string, number>;
  /** LM_OUT messages per rendition. */
  output: Record<string, number>;
}

/**
 * Counters from what JetStream already stores, so they need no extra message per segment, survive
 * an orchestrator restart and agree between several orchestrators. LM_SEG is a work queue: a
 * segment waits on its hop's subject until that hop acks it, so the count per subject is the
 * hop's pending work. A hop's processed count is everything that has left it: what waits on the
 * hops after it, what those hops dead-lettered, and what came out (the largest rendition count).
 * Hence two limits: it only sees outputs within LM_OUT's retention window, and after a chain change
 * it counts segments that went through the position under the previous chain too.
 */
export function deriveHopCounters(hops: readonly { service: string; subject: string }[], counts: StreamCounts): HopCounters[] {
  const out = Math.max(0, ...Object.values(counts.output));
  const pending = hops.map((h) => counts.pending[h.subject] ?? 0);
  const failed = hops.map((h) => counts.deadLettered[h.service] ?? 0);
  return hops.map((_, i) => {
    let processed = out;
    for (let k = i + 1; k < hops.length; k++) processed += pending[k]! + failed[k]!;
    return { processed, pending: pending[i]!, failed: failed[i]! };
  });
}

@Injectable()
export class StreamCounters {
  private readonly logger = new Logger(StreamCounters.name);

  constructor(@Inject(Bus) private readonly bus: Bus) {}

  /** Adds counters to a stream's view; a counter JetStream cannot answer for is left at 0 and logged. */
  async detail(view: StreamView): Promise<StreamDetailView> {
    const counts = await this.counts(view.id, view.chain.hops);
    const perHop = deriveHopCounters(view.chain.hops, counts);
    return {
      ...view,
      chain: { version: view.chain.version, hops: view.chain.hops.map((h, i) => ({ ...h, counters: perHop[i]! })) },
      output: { segments: counts.output },
    };
  }

  private async counts(streamId: string, hops: readonly { service: string; subject: string }[]): Promise<StreamCounts> {
    const counts: StreamCounts = { pending: {}, deadLettered: {}, output: {} };
    for (const hop of hops) {
      counts.pending[hop.subject] = await this.count(STREAMS.segments, hop.subject, streamId);
      counts.deadLettered[hop.service] ??= await this.count(STREAMS.deadLetter, subjects.deadLetter(hop.service, streamId), streamId);
    }
    for (const [subject, n] of Object.entries(await this.perSubject(STREAMS.output, subjects.streamOutput(streamId), streamId))) {
      const parsed = parseOutputSubject(subject);
      if (parsed) counts.output[parsed.rendition] = n;
    }
    return counts;
  }

  private async count(stream: string, subject: string, streamId: string): Promise<number> {
    return (await this.perSubject(stream, subject, streamId))[subject] ?? 0;
  }

  private async perSubject(stream: string, filter: string, streamId: string): Promise<Record<string, number>> {
    try {
      return (await this.bus.streamInfo(stream, { subjects: filter })).subjects;
    } catch (e) {
      if (!isNotFound(e)) this.logger.warn(`streamId=${streamId} cannot count ${filter} in ${stream}: ${(e as Error).message}`);
      return {};
    }
  }
}
