import { ValidationFailedError } from '@livemesh/contracts';
import {
  forceKeyFramesArgs,
  inputArgs,
  parseSegmentListLine,
  segmentStageArgs,
  carriedAudioStageArgs,
  readerArgs,
  segmenterArgs,
  segmenterReencodeArgs,
  testSourceArgs,
  x264Args,
} from './args.builder.js';

/** The value following a flag, e.g. after('-f') -> 'mpegts'. */
function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('inputArgs', () => {
  it('reads a segment from stdin with only the pipe protocol and bounded probing and memory', () => {
    const a = inputArgs({ source: 'pipe', format: 'mpegts' });
    expect(a.slice(-2)).toEqual(['-i', 'pipe:0']);
    expect(after(a, '-protocol_whitelist')).toBe('pipe');
    expect(after(a, '-f')).toBe('mpegts');
    expect(after(a, '-probesize')).toBe('5000000');
    expect(after(a, '-analyzeduration')).toBe('5000000');
    expect(after(a, '-max_alloc')).toBe(String(512 * 1024 * 1024));
    expect(a).toContain('-nostdin');
  });

  it('prefixes a local file with file: so it cannot be read as a protocol or an option', () => {
    const a = inputArgs({ source: { file: '-y' } });
    expect(a.slice(-2)).toEqual(['-i', 'file:-y']);
    expect(after(a, '-protocol_whitelist')).toBe('file');
  });

  it('whitelists exactly the protocols the caller allows for a pulled URL', () => {
    const a = inputArgs({ source: { url: 'rtmp://127.0.0.1:1935/live/key', protocols: ['rtmp', 'tcp'] } });
    expect(after(a, '-protocol_whitelist')).toBe('rtmp,tcp');
    expect(a.at(-1)).toBe('rtmp://127.0.0.1:1935/live/key');
  });

  it('logs at error unless asked for the input report, and puts the input\'s own options just before its -i', () => {
    expect(after(inputArgs({ source: 'pipe' }), '-loglevel')).toBe('error');
    const a = inputArgs({ source: { url: 'rtmp://127.0.0.1/live/k', protocols: ['rtmp', 'tcp'] }, logLevel: 'info', inputOptions: ['-rw_timeout', '15000000'] });
    expect(after(a, '-loglevel')).toBe('info');
    expect(a.slice(-4)).toEqual(['-rw_timeout', '15000000', '-i', 'rtmp://127.0.0.1/live/k']);
  });

  it('sends an http(s) input through the egress proxy, and announces an RTMP name in tcUrl', () => {
    const http = inputArgs({ source: { url: 'https://cdn.example.com/a.m3u8', protocols: ['https', 'httpproxy'], httpProxy: 'http://127.0.0.1:4000' } });
    expect(http.slice(-4)).toEqual(['-http_proxy', 'http://127.0.0.1:4000', '-i', 'https://cdn.example.com/a.m3u8']);
    const rtmp = inputArgs({ source: { url: 'rtmp://93.184.216.34/live/k', protocols: ['rtmp', 'tcp'], rtmpTcUrl: 'rtmp://cdn.example.com/live' } });
    expect(rtmp.slice(-4)).toEqual(['-rtmp_tcurl', 'rtmp://cdn.example.com/live', '-i', 'rtmp://93.184.216.34/live/k']);
  });

  it.each([
    [{ url: 'http://h/a.m3u8', protocols: ['http'], httpProxy: 'http://10.0.0.1:3128' }],
    [{ url: 'http://h/a.m3u8', protocols: ['http'], httpProxy: 'http://127.0.0.1:1 -i file:x' }],
    [{ url: 'rtmp://h/x', protocols: ['rtmp'], rtmpTcUrl: 'rtmp://h/live x' }],
    [{ url: 'file:/etc/passwd', protocols: ['rtmp', 'tcp'] }],
    [{ url: 'rtmp://h/x', protocols: [] }],
    [{ url: 'rtmp://h/x', protocols: ['rtmp,file'] }],
    [{ url: '/etc/passwd', protocols: ['rtmp'] }],
  ])('refuses %j', (source) => {
    expect(() => inputArgs({ source })).toThrow(ValidationFailedError);
  });
});

describe('x264Args', () => {
  it('makes a self-contained GOP without B-frames (DTS == PTS keeps the timeline)', () => {
    const a = x264Args({ preset: 'veryfast', crf: 21 });
    expect(after(a, '-c:v')).toBe('libx264');
    expect(after(a, '-bf')).toBe('0');
    expect(after(a, '-sc_threshold')).toBe('0');
    expect(after(a, '-crf')).toBe('21');
    expect(after(a, '-pix_fmt')).toBe('yuv420p');
  });

  it('uses capped bitrate when one is given', () => {
    const a = x264Args({ bitrateKbps: 1500 });
    expect(after(a, '-b:v')).toBe('1500k');
    expect(after(a, '-maxrate')).toBe('1500k');
    expect(after(a, '-bufsize')).toBe('3000k');
    expect(a).not.toContain('-crf');
  });

  it.each([{ crf: 52 }, { crf: 1.5 }, { bitrateKbps: -1 }, { threads: NaN }])('refuses %j', (v) => {
    expect(() => x264Args(v)).toThrow(ValidationFailedError);
  });
});

describe('forceKeyFramesArgs', () => {
  it('lists the times sorted, deduplicated, to the millisecond, and nothing for none', () => {
    expect(forceKeyFramesArgs([12.6, 12, 12.0004])).toEqual(['-force_key_frames', '12.000,12.600']);
    expect(forceKeyFramesArgs([])).toEqual([]);
    expect(after(segmentStageArgs({ video: { preset: 'veryfast' }, audio: 'copy', forceKeyFramesAt: [3.5] }), '-force_key_frames')).toBe('3.500');
  });

  it('refuses times that are not finite seconds >= 0, too many, or on copied video', () => {
    expect(() => forceKeyFramesArgs([Number.NaN])).toThrow(ValidationFailedError);
    expect(() => forceKeyFramesArgs([-1])).toThrow(ValidationFailedError);
    expect(() => forceKeyFramesArgs(Array.from({ length: 65 }, (_, i) => i))).toThrow(ValidationFailedError);
    expect(() => segmentStageArgs({ video: 'copy', audio: 'copy', forceKeyFramesAt: [1] })).toThrow(ValidationFailedError);
  });
});

describe('segmentStageArgs', () => {
  const a = segmentStageArgs({ video: { preset: 'veryfast' }, audio: 'copy', videoFilter: 'scale=320:240' });

  it('reads MPEG-TS from stdin and writes MPEG-TS to stdout on the source timeline', () => {
    expect(a[0]).toBe('-copyts');
    expect(after(a, '-i')).toBe('pipe:0');
    expect(after(a, '-muxdelay')).toBe('0');
    expect(after(a, '-muxpreload')).toBe('0');
    expect(after(a, '-avoid_negative_ts')).toBe('disabled');
    expect(after(a, '-fps_mode')).toBe('passthrough');
    expect(after(a, '-enc_time_base:v')).toBe('-1');
    expect(a.slice(-3)).toEqual(['-f', 'mpegts', 'pipe:1']);
  });

  it('keeps the first video and (optional) audio stream and copies audio by default', () => {
    expect(a.filter((x, i) => a[i - 1] === '-map')).toEqual(['0:v:0?', '0:a:0?']);
    expect(after(a, '-c:a')).toBe('copy');
    expect(after(a, '-filter:v')).toBe('scale=320:240');
  });

  it('drops the encoded audio packets it is told to, and refuses that on copied audio', () => {
    const keep = (r: { from: number; to?: number }) => after(segmentStageArgs({ video: 'copy', audio: { codec: 'aac', bitrateKbps: 96 }, keepAudioPackets: r }), '-bsf:a');
    expect(keep({ from: 1 })).toBe('noise=drop=lt(n\\,1)');
    expect(keep({ from: 3, to: 97 })).toBe('noise=drop=lt(n\\,3)+gte(n\\,97)');
    expect(() => segmentStageArgs({ video: 'copy', audio: 'copy', keepAudioPackets: { from: 1 } })).toThrow(ValidationFailedError);
  });

  it('encodes audio only when asked', () => {
    const b = segmentStageArgs({ video: 'copy', audio: { codec: 'aac', bitrateKbps: 96, sampleRate: 48000 }, audioFilter: 'volume=0.5' });
    expect(after(b, '-c:v')).toBe('copy');
    expect(b).not.toContain('-enc_time_base:v');
    expect(after(b, '-c:a')).toBe('aac');
    expect(after(b, '-b:a')).toBe('96k');
    expect(after(b, '-filter:a')).toBe('volume=0.5');
  });

  it('refuses a filter on a copied stream', () => {
    expect(() => segmentStageArgs({ video: 'copy', audio: 'copy', videoFilter: 'scale=2:2' })).toThrow(ValidationFailedError);
    expect(() => segmentStageArgs({ video: {}, audio: 'copy', audioFilter: 'volume=2' })).toThrow(ValidationFailedError);
  });
});

describe('carriedAudioStageArgs', () => {
  const o = {
    adtsFile: '/tmp/w/audio.adts',
    dropSamples: 1024,
    padSamples: 0,
    sampleRate: 48000,
    startSample: 91904,
    audioFilter: 'volume=volume=1:eval=frame',
    keepPackets: { from: 3, to: 97 },
    audio: { codec: 'aac' as const, bitrateKbps: 128 },
  };

  it('decodes the ADTS file onto the source timeline, copies video from stdin and keeps the chosen packets', () => {
    const a = carriedAudioStageArgs(o);
    expect(a[0]).toBe('-copyts');
    expect(a.filter((x, i) => a[i - 1] === '-i')).toEqual(['file:/tmp/w/audio.adts', 'pipe:0']);
    expect(a.filter((x, i) => a[i - 1] === '-protocol_whitelist')).toEqual(['file', 'pipe']);
    expect(after(a, '-filter_complex')).toBe('[0:a:0]asetpts=PTS-STARTPTS,atrim=start_sample=1024,asetpts=PTS-STARTPTS,aresample=48000,asetpts=PTS-STARTPTS+91904,volume=volume=1:eval=frame[a];[1:a:0]anullsink');
    expect(a.filter((x, i) => a[i - 1] === '-map')).toEqual(['1:v:0?', '[a]']);
    expect(after(a, '-c:v')).toBe('copy');
    expect(after(a, '-bsf:a')).toBe('noise=drop=lt(n\\,3)+gte(n\\,97)');
    expect(a.slice(-3)).toEqual(['-f', 'mpegts', 'pipe:1']);
  });

  it('pads with silence instead of dropping when nothing was carried', () => {
    expect(after(carriedAudioStageArgs({ ...o, dropSamples: 0, padSamples: 4096 }), '-filter_complex')).toContain('asetpts=PTS-STARTPTS,adelay=delays=4096S:all=1,aresample');
  });

  it.each([{ dropSamples: -1 }, { startSample: 1.5 }, { keepPackets: { from: 0, to: 3 } }, { keepPackets: { from: 5, to: 3 } }, { sampleRate: 0 }])('refuses %j', (bad) => {
    expect(() => carriedAudioStageArgs({ ...o, ...bad })).toThrow(ValidationFailedError);
  });
});

describe('readerArgs', () => {
  const args = readerArgs({ source: { url: 'rtmp://127.0.0.1:1935/live/k', protocols: ['rtmp', 'tcp'] }, rwTimeoutMs: 15_000 });

  it('copies the source as it is into MPEG-TS on stdout, its clock kept', () => {
    expect(args).toEqual(expect.arrayContaining(['-copyts', '-c', 'copy']));
    expect(after(args, '-f')).toBe('mpegts');
    expect(after(args, '-muxdelay')).toBe('0');
    expect(args).not.toContain('-start_at_zero');
    expect(args.at(-1)).toBe('pipe:1');
  });

  it('reports the input (its start time) and puts the timeout and whitelist before -i', () => {
    expect(after(args, '-loglevel')).toBe('info');
    expect(after(args, '-protocol_whitelist')).toBe('rtmp,tcp');
    expect(after(args, '-rw_timeout')).toBe('15000000');
    expect(args.indexOf('-rw_timeout')).toBeLessThan(args.indexOf('-i'));
    expect(after(args, '-i')).toBe('rtmp://127.0.0.1:1935/live/k');
  });

  it.each([0, 999, 15.5, 600_001])('refuses a %s ms read timeout', (rwTimeoutMs) => {
    expect(() => readerArgs({ source: { url: 'rtmp://127.0.0.1:1935/live/k', protocols: ['rtmp', 'tcp'] }, rwTimeoutMs })).toThrow(ValidationFailedError);
  });
});

describe('segmenterArgs', () => {
  const base = { input: { url: 'rtmp://127.0.0.1:1935/live/key', protocols: ['rtmp', 'tcp'] }, segmentSeconds: 2, outputPattern: '/tmp/s/seg_%06d.ts', listTarget: 'pipe:1' as const };

  it('cuts without re-encoding, keeps timestamps and announces each segment on stdout', () => {
    const a = segmenterArgs(base);
    expect(a).toContain('-copyts');
    expect(a).toContain('-start_at_zero');
    expect(after(a, '-c:v')).toBe('copy');
    expect(after(a, '-c:a')).toBe('copy');
    expect(after(a, '-f')).toBe('segment');
    expect(after(a, '-segment_time')).toBe('2');
    expect(after(a, '-segment_format')).toBe('mpegts');
    expect(after(a, '-reset_timestamps')).toBe('0');
    expect(after(a, '-segment_list')).toBe('pipe:1');
    expect(after(a, '-segment_list_type')).toBe('csv');
    expect(after(a, '-segment_list_flags')).toBe('+live');
    expect(after(a, '-muxdelay')).toBe('0');
    // One shift for all segments when a B-frame source's first DTS is negative (see segmenterTail).
    expect(after(a, '-avoid_negative_ts')).toBe('make_non_negative');
    expect(a.at(-1)).toBe('file:/tmp/s/seg_%06d.ts');
  });

  it('re-encodes the audio to AAC when asked (a source whose audio is not AAC), video still copied', () => {
    const a = segmenterArgs({ ...base, audio: { codec: 'aac', bitrateKbps: 128 } });
    expect(after(a, '-c:v')).toBe('copy');
    expect(after(a, '-c:a')).toBe('aac');
    expect(after(a, '-b:a')).toBe('128k');
    expect(after(segmenterReencodeArgs({ ...base, video: { preset: 'veryfast' }, audio: { codec: 'aac', bitrateKbps: 96 } }), '-c:a')).toBe('aac');
  });

  it('can keep the absolute source clock', () => {
    expect(segmenterArgs({ ...base, startAtZero: false })).not.toContain('-start_at_zero');
  });

  it('re-encodes with a key frame every segment for long-GOP sources', () => {
    const a = segmenterReencodeArgs({ ...base, video: { preset: 'veryfast' } });
    expect(after(a, '-c:v')).toBe('libx264');
    expect(after(a, '-force_key_frames')).toBe('expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+2))');
    expect(after(a, '-c:a')).toBe('copy');
  });

  it.each([{ segmentSeconds: 0 }, { segmentSeconds: 2.5 }, { outputPattern: '/tmp/seg.ts' }, { outputPattern: '-y%d' }, { outputPattern: '/tmp/%{pts}/seg_%d.ts' }, { outputPattern: '/tmp/seg_%d_%d.ts' }])('refuses %j', (bad) => {
    expect(() => segmenterArgs({ ...base, ...bad })).toThrow(ValidationFailedError);
  });
});

describe('segmenterArgs behind the reader of ingest', () => {
  const base = { input: 'pipe' as const, segmentSeconds: 2, outputPattern: '/data/ingest/s1/run-1/seg_%06d.ts', listTarget: 'pipe:1' as const, initialOffset: 12.5, progress: true };

  it('reads MPEG-TS from stdin, rebases the run to 0 and lists segments on stdout', () => {
    const a = segmenterArgs(base);
    expect(after(a, '-i')).toBe('pipe:0');
    expect(after(a, '-protocol_whitelist')).toBe('pipe');
    expect(a).toEqual(expect.arrayContaining(['-copyts', '-start_at_zero', '-c:v', 'copy', '-c:a', 'copy']));
    expect(after(a, '-segment_list')).toBe('pipe:1');
    expect(a.at(-1)).toBe('file:/data/ingest/s1/run-1/seg_%06d.ts');
  });

  it('writes the run where the stream goes on: the offset is an output option, after the cuts are decided', () => {
    const a = segmenterArgs(base);
    expect(after(a, '-initial_offset')).toBe('12.500000');
    expect(a.indexOf('-initial_offset')).toBeGreaterThan(a.indexOf('-f'));
    expect(a.indexOf('-initial_offset')).toBe(a.length - 3);
    const re = segmenterReencodeArgs({ ...base, video: { preset: 'veryfast' } });
    expect(after(re, '-initial_offset')).toBe('12.500000');
    expect(re.indexOf('-initial_offset')).toBe(re.length - 3);
    expect(segmenterArgs({ ...base, initialOffset: undefined })).not.toContain('-initial_offset');
  });

  it('reports progress on stderr instead of the stats line, only when asked', () => {
    const a = segmenterArgs(base);
    expect(a.slice(0, 5)).toEqual(['-nostats', '-progress', 'pipe:2', '-stats_period', '0.5']);
    const quiet = segmenterArgs({ ...base, progress: undefined });
    expect(quiet).not.toContain('-progress');
    expect(quiet).not.toContain('-nostats');
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses an offset of %s', (initialOffset) => {
    expect(() => segmenterArgs({ ...base, initialOffset })).toThrow(ValidationFailedError);
  });
});

describe('parseSegmentListLine', () => {
  it('parses the CSV line ffmpeg writes', () => {
    expect(parseSegmentListLine('seg_000003.ts,6.006000,8.008000')).toEqual({ file: 'seg_000003.ts', start: 6.006, end: 8.008 });
    expect(parseSegmentListLine('seg_000000.ts,0.000000,2.021000\n')).toEqual({ file: 'seg_000000.ts', start: 0, end: 2.021 });
  });

  it('unquotes a name holding a comma or quote', () => {
    expect(parseSegmentListLine('"a,b""c.ts",1.5,3.5')).toEqual({ file: 'a,b"c.ts', start: 1.5, end: 3.5 });
  });

  it.each(['', 'garbage', 'a.ts,1', 'a.ts,x,2', ',1,2', 'a.ts,3,2'])('ignores %j', (line) => {
    expect(parseSegmentListLine(line)).toBeUndefined();
  });
});

describe('testSourceArgs', () => {
  it('pushes a live test picture over RTMP at native speed with 2 s key frames', () => {
    const a = testSourceArgs({ width: 640, height: 360, fps: 25, output: { url: 'rtmp://127.0.0.1:1935/live/k' }, realtime: true, format: 'flv' });
    expect(a.filter((x) => x === '-re')).toHaveLength(2);
    expect(a).toContain('testsrc2=size=640x360:rate=25');
    expect(after(a, '-g')).toBe('50');
    expect(after(a, '-c:a')).toBe('aac');
    expect(a).not.toContain('-t');
    expect(a.slice(-3)).toEqual(['-f', 'flv', 'rtmp://127.0.0.1:1935/live/k']);
  });

  it('makes a finite clip for tests, optionally in the middle of a timeline', () => {
    const a = testSourceArgs({ width: 320, height: 240, fps: 25, durationSec: 2, output: 'pipe', realtime: false, format: 'mpegts', startSeconds: 10 });
    expect(a).not.toContain('-re');
    expect(after(a, '-t')).toBe('2');
    expect(after(a, '-output_ts_offset')).toBe('10');
    expect(a.at(-1)).toBe('pipe:1');
  });

  it('refuses odd sizes', () => {
    expect(() => testSourceArgs({ width: 321, height: 240, fps: 25, output: 'pipe', realtime: false, format: 'mpegts' })).toThrow(ValidationFailedError);
  });
});
