import { REENCODE_AUDIO, REENCODE_VIDEO, audioNeedsReencode, ingestSegmenterArgs, readerArgs, reportedAudio } from './segmenter.run.js';

const after = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

describe('readerArgs', () => {
  const args = readerArgs({ input: { url: 'rtmp://127.0.0.1:1935/live/k', protocols: ['rtmp', 'tcp'] }, rwTimeoutMs: 15_000 });

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
});

describe('ingestSegmenterArgs', () => {
  const opts = { segmentSeconds: 2, dir: '/data/ingest/s1/run-1', offset: 12.5 };
  const args = ingestSegmenterArgs(opts);

  it('reads the reader from stdin, rebases the run to 0 and lists segments on stdout', () => {
    expect(after(args, '-i')).toBe('pipe:0');
    expect(after(args, '-protocol_whitelist')).toBe('pipe');
    expect(args).toEqual(expect.arrayContaining(['-copyts', '-start_at_zero', '-c:v', 'copy', '-c:a', 'copy']));
    expect(after(args, '-segment_list')).toBe('pipe:1');
    expect(after(args, '-segment_time')).toBe('2');
    expect(args.at(-1)).toBe('file:/data/ingest/s1/run-1/seg_%06d.ts');
  });

  it('writes the run where the stream goes on, and reports progress', () => {
    expect(after(args, '-initial_offset')).toBe('12.500000');
    expect(args.indexOf('-initial_offset')).toBeGreaterThan(args.indexOf('-i'));
    expect(after(args, '-progress')).toBe('pipe:2');
  });

  it('re-encodes with forced key frames when asked', () => {
    const re = ingestSegmenterArgs({ ...opts, reencode: REENCODE_VIDEO });
    expect(after(re, '-c:v')).toBe('libx264');
    expect(after(re, '-force_key_frames')).toMatch(/^expr:/);
    expect(after(re, '-c:a')).toBe('copy');
  });

  it('re-encodes the audio to AAC when the source has other audio', () => {
    const a = ingestSegmenterArgs({ ...opts, audio: REENCODE_AUDIO });
    expect(after(a, '-c:v')).toBe('copy');
    expect(after(a, '-c:a')).toBe('aac');
  });

  it('refuses a negative offset', () => {
    expect(() => ingestSegmenterArgs({ ...opts, offset: -1 })).toThrow(RangeError);
  });
});

describe('the source audio ingest re-encodes', () => {
  // Lines of ffmpeg 5.1's input report, as the reader prints them.
  it.each([
    ['  Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp, 128 kb/s', 'aac (LC)', false],
    ['  Stream #0:1[0x101]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, stereo, fltp', 'aac (LC)', false],
    ['  Stream #0:1: Audio: aac (HE-AAC), 48000 Hz, stereo, fltp', 'aac (HE-AAC)', true],
    ['  Stream #0:1: Audio: aac, 44100 Hz, stereo, fltp', 'aac', false],
    ['  Stream #0:1: Audio: mp3, 44100 Hz, stereo, fltp, 96 kb/s', 'mp3', true],
    ['  Stream #0:1[0x101](eng): Audio: mp2 ([3][0][0][0] / 0x0003), 48000 Hz, stereo, s16p, 192 kb/s', 'mp2', true],
    ['  Stream #0:0: Video: h264 (High), yuv420p(progressive), 320x240, 25 fps', undefined, false],
  ])('%s -> %s', (line, reported, reencode) => {
    expect(reportedAudio(line)).toBe(reported);
    expect(audioNeedsReencode(reportedAudio(line))).toBe(reencode);
  });
});
