/**
 * The chain spec: what the orchestrator decided for one stream, stored in the `lm_chains` bucket
 * under the stream id. Ingest reads hop 0's subject from it; each worker reads its hop's
 * parameters and where to publish next. A change to a running chain is a new version.
 */
export interface HopSpec {
  /** 0-based position in the chain. */
  index: number;
  service: string;
  params: Record<string, unknown>;
  /** Input subject: `lm.seg.<service>.<streamId>.<index>`. */
  subject: string;
  /**
   * Where this hop publishes: the next hop's input subject, or `null` for the output subjects
   * `lm.out.<streamId>.<rendition>` (one per rendition the segment carries).
   */
  next: string | null;
}

export interface ChainSpec {
  streamId: string;
  /** Increases by one with every change; segments carry the version they were routed with. */
  version: number;
  hops: HopSpec[];
  updatedAt: string;
}
