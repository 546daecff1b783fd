// Issue 13's limits on the orchestrator: failing platform events do not hold the next one, a hostile
// parameter schema is refused at registration, a large body is refused. Real nats-server and
// orchestrator; only the container runtime is a fake that records nothing but running instances.
import type { Bus } from '@livemesh/bus';
import { subjects, type StreamEvent } from '@livemesh/contracts';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { waitFor } from '../support/wait.js';
import { authFetch } from '../support/auth.js';

describe('orchestrator limits (real NATS)', () => {
  let orchestrator: InProcessOrchestrator | undefined;
  let bus: Bus;
  let base: string;
  let events: StreamEvent[];

  beforeAll(async () => {
    orchestrator = await startInProcessOrchestrator('orchestrator-limits-e2e');
    ({ bus, base, events } = orchestrator);
  });

  afterAll(async () => {
    await orchestrator?.close();
  });

  async function healthMs(): Promise<number> {
    const t = Date.now();
    const res = await fetch(`${base}/health`);
    expect(res.status).toBeLessThan(500);
    return Date.now() - t;
  }

  it('answers 10 failing platform events with a failed event each at once, then starts a valid stream within 5 s', async () => {
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) {
      const body = i % 2 === 0 ? { id: `bad-${i}`, source: { url: 'file:///etc/passwd' } } : { id: `bad-${i}`, pipeline: 'no-such-pipeline' };
      await bus.publish(subjects.platformStarted, JSON.stringify(body));
    }
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'good-1' }));
    const ready = await waitFor('good-1 chain-ready', 5000, () => events.find((e) => e.streamId === 'good-1' && e.kind === 'chain-ready'));
    const startedMs = Date.parse(ready.at) - t0;
    const failed = await waitFor('a failed event for each bad one', 2000, () => {
      const f = events.filter((e) => e.kind === 'failed' && e.streamId.startsWith('bad-'));
      return f.length >= 10 && f;
    });
    console.log(`limits: valid stream ready ${startedMs} ms after 10 failing events; failed events: ${failed.length}`);
    expect(new Set(failed.map((e) => e.streamId)).size).toBe(10);
    expect(failed.find((e) => e.streamId === 'bad-0')).toMatchObject({ message: expect.stringMatching(/platform start failed: .*file/), data: { code: 'LM_SOURCE_URL', final: true } });
    expect(failed.find((e) => e.streamId === 'bad-1')?.message).toMatch(/no-such-pipeline/);
    expect(startedMs).toBeLessThan(5000);
  });

  it('refuses a service whose parameter pattern could backtrack catastrophically, and /health stays fast', async () => {
    const spec = {
      name: 'hostile',
      version: '1.0.0',
      paramSchema: { type: 'object', additionalProperties: false, properties: { v: { type: 'string', pattern: '^(a+)+$' } } },
      input: 'segments',
      minReplicas: 0,
      maxReplicas: 1,
    };
    const [res, ms] = await Promise.all([
      authFetch(`${base}/api/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) }),
      new Promise((r) => setTimeout(r, 20)).then(healthMs),
    ]);
    const body = (await res.json()) as { problems?: string[] };
    console.log(`limits: hostile pattern answered ${res.status} ${JSON.stringify(body)}; /health took ${ms} ms`);
    expect(res.status).toBe(422);
    expect(body.problems).toEqual([expect.stringMatching(/^paramSchema\.properties\.v\.pattern: .*nested quantifier/)]);
    expect(ms).toBeLessThan(1000);
  });

  it('refuses a 2 MB body with 413 and a JSON answer, and /health stays fast', async () => {
    const big = JSON.stringify({ id: 'big-1', attributes: { x: 'y'.repeat(2 * 1024 * 1024) } });
    const [res, ms] = await Promise.all([
      authFetch(`${base}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big }),
      healthMs(),
    ]);
    const body = (await res.json()) as { code?: string; message?: string };
    console.log(`limits: 2 MB body answered ${res.status}; /health took ${ms} ms`);
    expect(res.status).toBe(413);
    expect(body).toMatchObject({ statusCode: 413, code: 'LM_BODY_TOO_LARGE' });
    expect(ms).toBeLessThan(1000);
  });
});
