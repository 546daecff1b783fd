// The built `livemesh` command run for real where cli-commands only asks for --help: `stream record`
// against a stream of a real mesh (ingest, a passthrough worker, output subject), and `image build`
// against a Docker engine when one answers. (`livemesh up` runs for real in faults-supervision.)
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { ffprobeJson, generateClip, parseM3u8, publishRtmp } from '../support/media.js';
import { spawnNode, REPO_ROOT } from '../support/processes.js';
import { describeDocker } from '../support/docker.js';
import { docker } from './docker-fixtures.js';
import { waitFor } from '../support/wait.js';

const CLIP_SECONDS = 5;

/** How many segments `stream record` says it wrote so far (its progress line on stderr). */
const recorded = (lines: readonly string[]) => Math.max(0, ...[...lines.join('\n').matchAll(/recorded (\d+) segments/g)].map((m) => Number(m[1])));

describe('livemesh stream record (built CLI, real mesh)', () => {
  let dir: string;
  let mesh: Mesh;
  let clip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-cli-record-'));
    [clip, mesh] = await Promise.all([generateClip({ seconds: CLIP_SECONDS, width: 320, height: 180, fps: 25, out: join(dir, 'clip.flv') }), startMesh()]);
  }, 120_000);

  afterAll(async () => {
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the live segments of a stream into one playable MPEG-TS file until it is stopped', async () => {
    const stream = await mesh.startStream({ id: 'rec1', stages: [{ service: 'passthrough' }] });
    const file = join(dir, 'rec1.ts');
    // Started before the encoder, without --from-start: it records what comes while it runs.
    // The mesh's NATS has credentials: the recorder reads LM_OUT with a full one, as an operator's would (docs/security.md).
    const creds = mesh.nats.auth ? ['--creds', await mesh.nats.auth.credsFile({ role: 'orchestrator' })] : [];
    const rec = spawnNode('livemesh', ['apps/cli/dist/main.js', '--nats', mesh.nats.url, ...creds, 'stream', 'record', 'rec1', file], { ...mesh.env, NO_COLOR: '1' });
    try {
      await waitFor('the recorder to be connected', 10_000, async () => (await stat(file).catch(() => undefined)) !== undefined);
      const { code } = await publishRtmp(clip, stream.publish.rtmp, { realtime: true });
      expect(code).toBe(0);
      await waitFor('the recorder to write 2 segments', 30_000, () => recorded(rec.lines) >= 2, { detail: () => rec.tail(10) });
    } finally {
      await rec.stop();
    }
    expect(await rec.exited).toEqual({ code: 0, signal: null });
    expect(rec.lines.join('\n')).toContain(`wrote ${file}`);
    const n = recorded(rec.lines);

    const probe = await ffprobeJson(file);
    expect(probe.format?.format_name).toBe('mpegts');
    expect(probe.streams.map((s) => [s.codec_type, s.codec_name])).toEqual(
      expect.arrayContaining([
        ['video', 'h264'],
        ['audio', 'aac'],
      ]),
    );
    expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 320, height: 180 });
    // As long as the segments it says it wrote: the same ones the stream's playlist lists first.
    const listed = parseM3u8(await waitForSegments(stream.playback.hls, n), stream.playback.hls).segments.slice(0, n);
    const expected = listed.reduce((sum, s) => sum + s.duration, 0);
    expect(Number(probe.format?.duration)).toBeCloseTo(expected, 0);
    expect(expected).toBeGreaterThan(1);
  }, 90_000);
});

describeDocker('livemesh image build (built CLI, Docker engine)', () => {
  it('builds an app image from this checkout', async () => {
    const version = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const tag = `livemesh/delivery:${version}`;
    const build = spawnNode('livemesh', ['apps/cli/dist/main.js', 'image', 'build', 'delivery'], { NO_COLOR: '1' });
    const { code } = await build.exited;
    expect({ code, tail: code === 0 ? '' : build.tail(30) }).toEqual({ code: 0, tail: '' });
    const built = build.lines.map((l) => l.match(/^built (\S+) \(([0-9a-f]{12,64})\)$/)).find(Boolean);
    expect(built?.[1]).toBe(tag);
    const image = await docker().getImage(tag).inspect();
    expect(image.Id).toMatch(new RegExp(`^sha256:${built![2]}`));
    // The engine holds what the command said it built, and it runs the delivery app.
    expect([...(image.Config.Entrypoint ?? []), ...(image.Config.Cmd ?? [])].join(' ')).toContain('apps/delivery/dist/main.js');
  }, 300_000);
});
