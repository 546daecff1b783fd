import { ValidationFailedError } from '@livemesh/contracts';
import { escapeFilterValue, type ProbeResult } from '@livemesh/media';

/** The source frame rate a probe reports (r_frame_rate, else avg_frame_rate), when it is usable. */
export function sourceFrameRate(probe: ProbeResult): number | undefined {
  const v = probe.streams.find((s) => s.codec_type === 'video');
  for (const r of [v?.r_frame_rate, v?.avg_frame_rate]) {
    const [n, d] = (r ?? '').split('/').map(Number);
    if (n && d && n / d > 0 && n / d <= 240) return n / d;
  }
  return undefined;
}

/**
 * Frames on a grid of 1/fps on the source timeline (copyts), each slot filled by the frame on
 * screen at that instant, decided frame by frame: a frame at t (lasting 1/sourceFps) is kept when
 * a slot falls in [t, t + 1/sourceFps), and moved onto that slot. The decision needs nothing but
 * the frame itself, so two neighbouring segments, processed apart, fill every slot at their join
 * exactly once. ffmpeg's `fps` filter decides the last slots of a segment from where it thinks the
 * input ends (the last frame's pts, not its end), which leaves a slot at a join to neither segment.
 * Only for slowing down: above the source rate (or when it is unknown) it falls back to `fps`.
 */
export function fpsGridFilter(fps: number, sourceFps?: number): string {
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) throw new ValidationFailedError('invalid fps', ['fps must be a number in (0, 240]']);
  const r = Number(fps.toFixed(3));
  if (sourceFps === undefined || !(sourceFps > 0) || r > sourceFps + 1e-9) return `fps=fps=${r}:round=up`;
  const d = Number((1 / sourceFps).toFixed(9));
  // The epsilon keeps a frame exactly on a slot (2.0 at 10 fps) in that slot despite float error.
  const slot = `ceil(t*${r}-0.000001)`;
  const select = `lt(${slot},(t+${d})*${r}-0.000001)`;
  // round(): the slot time in the time base would otherwise be truncated a tick short (2.05 s -> 184499).
  return `select=${escapeFilterValue(select)},setpts=${escapeFilterValue(`round(${slot.replace('t*', 'T*')}/${r}/TB)`)}`;
}
