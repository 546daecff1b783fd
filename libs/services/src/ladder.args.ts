import { ValidationFailedError } from '@livemesh/contracts';
import { forceKeyFramesArgs, inputArgs, mpegtsOnSourceTimeline, scaleFilter, x264OnSourceTimeline, type X264Preset } from '@livemesh/media';
import { fpsGridFilter } from '@livemesh/stage-sdk';

/** One rung of an ABR ladder. */
export interface LadderRung {
  name: string;
  width: number;
  height: number;
  videoBitrateKbps: number;
}

export interface LadderOptions {
  rungs: LadderRung[];
  preset: X264Preset;
  fps?: number;
  /** The segment's frame rate, for fpsGridFilter. */
  sourceFps?: number;
  /**
   * Where each rung's MPEG-TS goes, in rung order: `pipe:1` or a local file path. ctx.ffmpeg
   * returns stdout, so the last rung usually goes there and the others to files in ctx.workDir().
   */
  targets: string[];
  /** Source-timeline seconds where every rung gets a key frame (transcode: detect's scene cuts). */
  forceKeyFramesAt?: readonly number[];
}

/**
 * One segment on stdin -> one MPEG-TS per rung, from a single decode (`split`), each rung on the
 * source timeline exactly as segmentStageArgs keeps it (libs/media has the single-output builder;
 * this is its multi-output sibling, kept here until another service needs it).
 */
export function ladderStageArgs(o: LadderOptions): string[] {
  const problems: string[] = [];
  if (o.rungs.length < 1 || o.rungs.length > 4) problems.push('a ladder has 1 to 4 rungs');
  if (o.targets.length !== o.rungs.length) problems.push('one target per rung');
  const names = new Set<string>();
  for (const r of o.rungs) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(r.name)) problems.push(`rung name ${JSON.stringify(r.name)} must be 1-64 letters, digits, '-' or '_'`);
    else if (names.has(r.name)) problems.push(`rung name "${r.name}" appears twice`);
    names.add(r.name);
  }
  for (const t of o.targets) if (t !== 'pipe:1' && (!t.startsWith('/') || t.includes('\0'))) problems.push('targets must be pipe:1 or absolute paths');
  if (problems.length) throw new ValidationFailedError('invalid ABR ladder', problems);

  const labels = o.rungs.map((_, i) => `lm_v${i}`);
  const branches = o.rungs.map((r, i) => {
    const chain = [scaleFilter({ width: r.width, height: r.height, keepAspect: false })];
    if (o.fps !== undefined) chain.push(fpsGridFilter(o.fps, o.sourceFps));
    return `[${labels[i]}]${chain.join(',')}[lm_o${i}]`;
  });
  const graph = [`[0:v:0]split=${o.rungs.length}${labels.map((l) => `[${l}]`).join('')}`, ...branches].join(';');

  const outputs = o.rungs.flatMap((r, i) => [
    '-map', `[lm_o${i}]`,
    '-map', '0:a:0?',
    ...x264OnSourceTimeline({ preset: o.preset, bitrateKbps: r.videoBitrateKbps }),
    ...forceKeyFramesArgs(o.forceKeyFramesAt ?? []),
    '-c:a', 'copy',
    ...mpegtsOnSourceTimeline(o.targets[i] === 'pipe:1' ? 'pipe:1' : `file:${o.targets[i]}`),
  ]);
  return ['-y', '-copyts', ...inputArgs({ source: 'pipe', format: 'mpegts' }), '-filter_complex', graph, ...outputs];
}
