import { STREAM_EVENT_FIELDS, type NewStreamEvent, type StreamEvent } from './index.js';
import { STREAM_EVENT_KINDS } from './subjects.js';

describe('stream event data', () => {
  it('describes the data fields of every kind', () => {
    expect(Object.keys(STREAM_EVENT_FIELDS).sort()).toEqual([...STREAM_EVENT_KINDS].sort());
    expect(Object.keys(STREAM_EVENT_FIELDS['dead-letter'])).toEqual(['code', 'attempts', 'reason']);
  });

  it('ties each kind to its own data type (checked by tsc -p tsconfig.spec.json)', () => {
    const ok: NewStreamEvent[] = [
      { streamId: 's', kind: 'dead-letter', data: { code: 'LM_MEDIA_INPUT', attempts: 1 } },
      { streamId: 's', kind: 'dead-letter', data: { code: 'LM_MEDIA_INPUT', attempts: 3, reason: 'failed 3 of 3 attempts' } },
      { streamId: 's', kind: 'segments-dropped', data: { reason: 'late', from: 1, to: 2, count: 2 } },
      { streamId: 's', kind: 'starting' },
      { streamId: 's', kind: 'failed' },
    ];
    const wrong: NewStreamEvent[] = [
      // @ts-expect-error a segments-dropped payload on a dead-letter event
      { streamId: 's', kind: 'dead-letter', data: { reason: 'late', from: 1, to: 2, count: 2 } },
      // @ts-expect-error dead-letter needs its data
      { streamId: 's', kind: 'dead-letter' },
      // @ts-expect-error not one of the reasons
      { streamId: 's', kind: 'segments-dropped', data: { reason: 'tired', from: 1, to: 2, count: 2 } },
    ];
    expect(ok).toHaveLength(5);
    expect(wrong).toHaveLength(3);
    // A consumer narrows on kind and gets the kind's data type.
    const e = { streamId: 's', kind: 'publish-ended', at: '', data: { source: 'rtmp', segments: 3 } } as StreamEvent;
    if (e.kind === 'publish-ended') expect(e.data.segments).toBe(3);
  });
});
