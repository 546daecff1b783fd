// A catalogue service's start parameters reach the real worker the process runtime starts for it
// (`ctx.startParams`): the service is registered through the API with `startParams`, its stage
// module (written here, in a folder the mesh may load stages from: LIVEMESH_STAGE_DIR) reports what
// it got as a stream event, and a short clip goes through a real mesh to make it run.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@livemesh/bus';
import { subjects, type StreamEvent } from '@livemesh/contracts';
import { STAGE_KIND } from '@livemesh/stage-sdk';
import { startMesh, type Mesh } from '../support/mesh.js';
import { generateClip, publishRtmp } from '../support/media.js';
import { waitFor } from '../support/wait.js';

const SERVICE = 'start-params';
// Every value type a ServiceSpec's startParams holds, so a hand-over that stringifies values shows.
const START_PARAMS = { threads: 2, mode: 'x', gpu: false };

// Passes each segment on unchanged; reports its start parameters once per stream.
const STAGE_MODULE = `
export default {
  kind: '${STAGE_KIND}', name: '${SERVICE}', input: 'segments',
  params: { type: 'object', properties: {}, additionalProperties: false },
  process: async (ctx) => {
    if (!ctx.state.has('reported')) {
      ctx.state.set('reported', true);
      await ctx.report('detection', { type: 'scene' }, 'startParams=' + JSON.stringify(ctx.startParams));
    }
    return { data: ctx.segment.data };
  },
};
`;

describe('start parameters reach a real worker (process runtime)', () => {
  let dir: string;
  let mesh: Mesh;
  let bus: Bus;
  let clip: string;
  const events: StreamEvent[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-start-params-'));
    await writeFile(join(dir, 'start-params.mjs'), STAGE_MODULE);
    clip = await generateClip({ seconds: 4, width: 320, height: 180, fps: 25, out: join(dir, 'clip.flv') });
    mesh = await startMesh({ LIVEMESH_STAGE_DIR: dir });
    bus = await mesh.connectBus('start-params-e2e');
    const sub = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of sub) events.push(m.json<StreamEvent>());
    })();
    await bus.flush();
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("hands the catalogue's startParams to the worker as ctx.startParams, exactly", async () => {
    const put = await mesh.api('POST', '/api/services', {
      name: SERVICE,
      version: '1.0.0',
      run: { module: join(dir, 'start-params.mjs') },
      paramSchema: { type: 'object', properties: {}, additionalProperties: false },
      input: 'segments',
      minReplicas: 0,
      maxReplicas: 1,
      startParams: START_PARAMS,
    });
    expect(put.status).toBe(201);
    const stream = await mesh.startStream({ id: 'sp1', stages: [{ service: SERVICE }] });
    const { code, stderr } = await publishRtmp(clip, stream.publish.rtmp);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const reported = await waitFor('the stage to report its start parameters', 60_000, () =>
      events.find((e) => e.streamId === 'sp1' && e.kind === 'detection' && e.service === SERVICE),
    );
    expect(reported.message).toMatch(/^startParams=/);
    expect(JSON.parse(reported.message!.slice('startParams='.length))).toEqual(START_PARAMS);
    // It ran in a worker the orchestrator's process runtime started (its lines carry the replica's name).
    expect(mesh.apps.orchestrator.lines.some((l) => new RegExp(`\\[${SERVICE}-\\d+\\].*consuming lm\\.seg\\.${SERVICE}\\.>`).test(l))).toBe(true);
  }, 120_000);
});
