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

/** The console's rows, in the order of `views`. */
export function summarise(views: readonly StreamView[], records: ReadonlyMap<string, StreamRecord>, counts: SubjectCounts): StreamSummary[] {
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
    };
  });
}
