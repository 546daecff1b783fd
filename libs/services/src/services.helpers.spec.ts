import { keptPackets, nextGainDb, parseIntegratedLoudness, volumeRamp, volumeRamps } from './audio.service.js';
import { parseDetections, sceneCutsWithin } from './detect.service.js';
import { ladderStageArgs } from './ladder.args.js';
import { logoDemuxer, overlayGraph } from './watermark.service.js';

describe('detect scene cuts handed on', () => {
  it('keeps the cuts strictly inside the segment, ascending, to the millisecond', () => {
    const found = [
      { type: 'scene' as const, start: 13.0004, score: 40 },
      { type: 'scene' as const, start: 10, score: 40 },
      { type: 'black' as const, start: 11 },
      { type: 'scene' as const, start: 11.2, score: 40 },
      { type: 'scene' as const, start: 12, score: 40 },
    ];
    expect(sceneCutsWithin(found, { pts: 10, duration: 2 })).toEqual([11.2]);
    expect(sceneCutsWithin(found, { pts: 10, duration: 4 })).toEqual([11.2, 12, 13]);
  });
});

describe('audio gain', () => {
  it('steps halfway towards what the last loudness asks for, within ±20 dB, and holds through silence', () => {
    expect(nextGainDb({ gainDb: 0 }, -23)).toBe(0);
    expect(nextGainDb({ gainDb: 0, loudness: -27 }, -23)).toBe(2);
    expect(nextGainDb({ gainDb: 2, loudness: -27 }, -23)).toBe(3);
    expect(nextGainDb({ gainDb: 0, loudness: -80 }, -23)).toBe(0);
    expect(nextGainDb({ gainDb: 0, loudness: -70 + 1 }, -5)).toBe(0);
    expect(nextGainDb({ gainDb: 0, loudness: -59 }, -5)).toBe(10);
  });

  it('reads the last integrated loudness ametadata printed', () => {
    expect(parseIntegratedLoudness('frame:1\nlavfi.r128.I=-70.000\nframe:2\nlavfi.r128.I=-21.791\n')).toBe(-21.791);
    expect(parseIntegratedLoudness('')).toBeUndefined();
  });

  it('ramps the gain from the last segment to this one on the source timeline, escaped for the graph', () => {
    expect(volumeRamp(1, 1, 10, 2)).toBe('volume=volume=1:eval=frame');
    expect(volumeRamp(1, 2, 10, 2)).toBe('volume=volume=1+(1)*clip((t-10)/2\\\\\\,0\\\\\\,1):eval=frame');
  });

  it('hears the previous segment\'s ramp before the join and this one\'s after it', () => {
    const f = volumeRamps([{ g0: 1, g1: 2, t0: 8, d: 2, until: 10 }, { g0: 2, g1: 2, t0: 10, d: 2, until: Infinity }]);
    expect(f).toBe('volume=volume=if(lt(t\\\\\\,10)\\\\\\,1+(1)*clip((t-8)/2\\\\\\,0\\\\\\,1)\\\\\\,2):eval=frame');
  });
});

describe('audio packets kept across a join', () => {
  it('keeps the first segment from its start and every other from two frames before it, holding two frames back', () => {
    // First segment, 90 frames: packets 1..88 (the priming packet 0 and the last two held back).
    expect(keptPackets(0, 90 * 1024)).toEqual({ from: 1, to: 89, heldSamples: 2048 });
    // Later segments: 4 frames decoded in front; the two held by the previous one come out first.
    expect(keptPackets(4096, 94 * 1024)).toEqual({ from: 3, to: 97, heldSamples: 2048 });
    // As many packets out as the segment brought in: what one holds back, the next puts out.
    const k = keptPackets(4096, 94 * 1024);
    expect(k.to - k.from).toBe(94);
  });

  it('keeps nothing rather than a packet next to silence when a segment is shorter than the guard', () => {
    expect(keptPackets(4096, 0)).toEqual({ from: 3, to: 3, heldSamples: 2048 });
  });
});

describe('parseDetections', () => {
  it('pairs starts with ends and keeps stretches cut by the segment edges open', () => {
    const log = [
      'frame:0 pts:0 pts_time:20', 'lavfi.black_start=20', 'lavfi.freezedetect.freeze_end=20.5',
      'frame:25 pts:1 pts_time:21', 'lavfi.black_end=21', 'lavfi.scd.score=32.5', 'lavfi.scd.time=21',
      'lavfi.silence_start=21.2',
    ].join('\n');
    expect(parseDetections(log)).toEqual([
      { type: 'black', start: 20, end: 21 },
      { type: 'freeze', end: 20.5 },
      { type: 'scene', start: 21, score: 32.5 },
      { type: 'silence', start: 21.2 },
    ]);
  });
});

describe('ladderStageArgs', () => {
  const rungs = [
    { name: 'hi', width: 640, height: 360, videoBitrateKbps: 800 },
    { name: 'lo', width: 320, height: 180, videoBitrateKbps: 300 },
  ];

  it('decodes once and encodes each rung on the source timeline, the last one to stdout', () => {
    const args = ladderStageArgs({ rungs, preset: 'veryfast', targets: ['/tmp/w/r0.ts', 'pipe:1'] });
    expect(args[args.indexOf('-filter_complex') + 1]).toBe('[0:v:0]split=2[lm_v0][lm_v1];[lm_v0]scale=640:360,setsar=1[lm_o0];[lm_v1]scale=320:180,setsar=1[lm_o1]');
    expect(args.filter((a) => a === '-copyts')).toHaveLength(1);
    expect(args.filter((a) => a === '-enc_time_base:v')).toHaveLength(2);
    expect(args).toEqual(expect.arrayContaining(['file:/tmp/w/r0.ts', '-b:v', '800k', '300k']));
    expect(args.at(-1)).toBe('pipe:1');
  });

  it('refuses duplicate or bad names and a ladder of more than four', () => {
    expect(() => ladderStageArgs({ rungs: [rungs[0]!, rungs[0]!], preset: 'veryfast', targets: ['/a', 'pipe:1'] })).toThrow(/twice/);
    expect(() => ladderStageArgs({ rungs: [{ ...rungs[0]!, name: 'a.b' }], preset: 'veryfast', targets: ['pipe:1'] })).toThrow(/rung name/);
    expect(() => ladderStageArgs({ rungs: Array(5).fill(rungs[0]), preset: 'veryfast', targets: Array(5).fill('pipe:1') })).toThrow(/1 to 4/);
    expect(() => ladderStageArgs({ rungs, preset: 'veryfast', targets: ['relative.ts', 'pipe:1'] })).toThrow(/absolute/);
  });
});

describe('overlayGraph', () => {
  it('lays a scaled, translucent logo at a fixed position', () => {
    expect(overlayGraph({ imageWidth: 64, opacity: 0.5, position: 'bottom-right' })).toBe(
      '[1:v]scale=64:-2,format=rgba,colorchannelmixer=aa=0.5[lm_logo];[0:v:0][lm_logo]overlay=x=W-w-10:y=H-h-10:format=auto,format=yuv420p[lm_v]',
    );
    expect(() => overlayGraph({ imageWidth: 64, opacity: 2, position: 'center' })).toThrow(/opacity/);
  });
});

describe('logoDemuxer', () => {
  const bytes = (...parts: (number[] | string)[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

  it('forces the image demuxer the bytes are', () => {
    expect(logoDemuxer(bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))).toBe('png_pipe');
    expect(logoDemuxer(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg_pipe');
    expect(logoDemuxer(bytes('RIFF', [1, 0, 0, 0], 'WEBPVP8 '))).toBe('webp_pipe');
    expect(logoDemuxer(bytes('GIF89a', [1, 0, 1, 0]))).toBe('gif');
    expect(logoDemuxer(bytes('BM', new Array(30).fill(0)))).toBe('bmp_pipe');
  });

  it('refuses playlists, concat lists and other containers that would make ffmpeg open more files', () => {
    expect(logoDemuxer(bytes('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile:///etc/passwd\n'))).toBeUndefined();
    expect(logoDemuxer(bytes('ffconcat version 1.0\nfile /var/media/other.mp4\n'))).toBeUndefined();
    expect(logoDemuxer(bytes([0x47, 0x40, 0x00, 0x10]))).toBeUndefined();
    expect(logoDemuxer(bytes('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(logoDemuxer(new Uint8Array(0))).toBeUndefined();
  });
});
