// Output quality: PSNR of an encoded TS against a reference made from the source by the same
// filters with no encode, and the video bit rate an output reached (PSNR means little without it).
import { runToEnd } from './proc.mjs';

/**
 * PSNR (ffmpeg's `psnr` filter) of `file`'s video against `sourceFile`'s video put through
 * `refFilter` (the filters the output went through, no encode). Frames pair up by timestamp:
 * by their source-timeline timestamps (-copyts on both inputs) for outputs that keep the source
 * timeline, or, with `alignStart`, by their time since each file's first frame (a whole-stream
 * ffmpeg writes its own timeline).
 */
export async function psnr(file, sourceFile, { refFilter, alignStart = false }) {
  const start = alignStart ? ',setpts=PTS-STARTPTS' : '';
  const out = alignStart ? '[0:v:0]setpts=PTS-STARTPTS[out];' : '';
  const { stdout, stderr } = await runToEnd('ffmpeg', [
    '-hide_banner', '-nostdin', '-nostats',
    '-copyts', '-i', `file:${file}`,
    '-copyts', '-i', `file:${sourceFile}`,
    // Per-frame lines on stdout: how many frames were compared.
    '-lavfi', `${out}[1:v:0]${refFilter}${start}[ref];${alignStart ? '[out]' : '[0:v:0]'}[ref]psnr=shortest=1:stats_file=-`,
    '-an', '-f', 'null', '-',
  ]);
  const m = /PSNR y:([\d.]+|inf) u:([\d.]+|inf) v:([\d.]+|inf) average:([\d.]+|inf) min:([\d.]+|inf) max:([\d.]+|inf)/.exec(stderr);
  if (!m) throw new Error(`no PSNR line in ffmpeg's output: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const [y, u, v, average, min, max] = m.slice(1).map(Number);
  const compared = stdout.toString('utf8').split('\n').filter((l) => l.startsWith('n:')).length;
  return { y, u, v, average, min, max, compared };
}

/** The video stream's bit rate in kb/s over `seconds` of media: its packets' bytes, no TS or audio. */
export async function videoKbps(file, seconds) {
  const { stdout } = await runToEnd('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=size', '-of', 'csv=p=0', `file:${file}`]);
  const bytes = stdout.toString('utf8').split('\n').reduce((a, l) => a + (Number(l.trim().replace(/,$/, '')) || 0), 0);
  return (bytes * 8) / 1000 / seconds;
}
