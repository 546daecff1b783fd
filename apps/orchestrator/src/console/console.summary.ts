import { isToken, parseOutputSubject, type StreamRecord, type StreamSummary, type StreamView } from '@livemesh/contracts';

/** Per-subject counts of LM_SEG, LM_OUT and LM_DLQ, each read once for every stream. */
export interface SubjectCounts {
  segments: Record<string, number>;
  output: Record<string, number>;
  deadLetter: Record<string, number>;
}

/** Per stream: waiting (LM_SEG), finished (largest rendition in LM_OUT) and dead-lettered (LM_DLQ) segments. */
export function countsByStream(counts: SubjectCounts): Map<string, { pending: number; out: number; dead: number }> {
  const by = new Map<string, { pending: number; out: number; dead: number }>();
  const of = (id: string) => {
    let c = by.get(id);
    if (!c) by.set(id, (c = { pending: 0, out: 0, dead: 0 }));
    return c;
  };
  // lm.seg.<service>.<stream>.<hop>
  for (const [subject, n] of Object.entries(counts.segments)) {
    const id = subject.split('.')[3];
    if (isToken(id)) of(id).pending += n;
  }
  for (const [subject, n] of Object.entries(counts.output)) {
    const parsed = parseOutputSubject(subject);
    if (parsed) of(parsed.streamId).out = Math.max(of(parsed.streamId).out, n);
  }
  // lm.dlq.<service>.<stream>
  for (const [subject, n] of Object.entries(counts.deadLetter)) {
    const id = subject.split('.')[3];
    if (isToken(id)) of(id).dead += n;
  }
  return by;
}

/**
 * Each stream's input bitrate (kb/s) from the ingest cursors of lm_ingest, all read at once. A
 * cursor is another process's writing: only a finite, non-negative number under a well-formed id counts.
 */
export function bitratesByStream(cursors: readonly unknown[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const c of cursors) {
    const { streamId, inputKbps } = (c ?? {}) as { streamId?: unknown; inputKbps?: unknown };
    if (typeof streamId === 'string' && isToken(streamId) && typeof inputKbps === 'number' && Number.isFinite(inputKbps) && inputKbps >= 0) by.set(streamId, inputKbps);
  }
  return by;
}

/** The console's rows, in the order of `views`; `bitrates` from bitratesByStream. */
export function summarise(views: readonly StreamView[], records: ReadonlyMap<string, StreamRecord>, counts: SubjectCounts, bitrates: ReadonlyMap<string, number>): StreamSummary[] {
  const by = countsByStream(counts);
  return views.map((v) => {
    const request = records.get(v.id)?.request;
    const c = by.get(v.id) ?? { pending: 0, out: 0, dead: 0 };
    return {
      id: v.id,
      state: v.state,
      pipeline: request?.pipeline ?? (request?.stages ? 'custom' : 'auto'),
      source: request?.source ? 'pull' : 'publish',
      services: v.chain.hops.map((h) => h.service),
      chainVersion: v.chain.version,
      createdAt: records.get(v.id)?.createdAt ?? '',
      segmentsIn: c.out + c.pending + c.dead,
      segmentsOut: c.out,
      pending: c.pending,
      deadLetters: c.dead,
      ...(v.latency ? { latency: v.latency } : {}),
      ...(bitrates.has(v.id) ? { inputKbps: bitrates.get(v.id) } : {}),
    };
  });
}
