/**
 * Makes the video encoder keep the demuxer's time base (90 kHz in MPEG-TS). Without it libx264
 * gets 1/frame-rate, and every PTS not on that grid is rounded: a segment at 2.021333 s comes out
 * at 2.04 s, so the hop moves the timeline. Inserted before the output options; a stop-gap until
 * libs/media's segmentStageArgs sets it itself (it is left alone if already present).
 */
export function withSourceTimeBase(args: string[]): string[] {
  if (args.some((a) => a.startsWith('-enc_time_base'))) return args;
  const out = args.lastIndexOf('-f');
  if (out < 0) return [...args.slice(0, -1), '-enc_time_base:v', '-1', ...args.slice(-1)];
  return [...args.slice(0, out), '-enc_time_base:v', '-1', ...args.slice(out)];
}
