import { MediaInputError } from '@livemesh/contracts';
import { frameEncodeArgs, outputSize, parseFrameTimes, splitJpegs, splitRaw } from './frame.stage.js';
import { fpsGridFilter, sourceFrameRate } from './fps.grid.js';
import { checkSegmentBytes, checkSegmentProbe } from './segment.inspect.js';

describe('frame decoding helpers', () => {
  it('splits an MJPEG stream on its markers, whatever the entropy-coded bytes hold', () => {
    const a = [0xff, 0xd8, 0x01, 0xff, 0x00, 0x02, 0xff, 0xd9];
    const b = [0xff, 0xd8, 0xff, 0xd9];
    expect(splitJpegs(Uint8Array.from([...a, ...b])).map((x) => [...x])).toEqual([a, b]);
    expect(splitJpegs(Uint8Array.from([0xff, 0xd8, 0x01]))).toEqual([]);
  });

  it('splits raw frames and refuses a partial one', () => {
    expect(splitRaw(new Uint8Array(12), 4)).toHaveLength(3);
    expect(() => splitRaw(new Uint8Array(10), 4)).toThrow(MediaInputError);
  });

  it('reads frame times from the metadata filter print-out', () => {
    expect(parseFrameTimes('frame:0    pts:900000  pts_time:10\nlm.frame=1\nframe:1    pts:903600  pts_time:10.04\nlm.frame=1\n')).toEqual([10, 10.04]);
  });

  it('scales to an even size keeping the aspect ratio', () => {
    expect(outputSize({ width: 640, height: 360 }, 320)).toEqual({ width: 320, height: 180 });
    expect(outputSize({ width: 640, height: 360 }, 101)).toEqual({ width: 102, height: 56 });
    expect(outputSize({ width: 640, height: 360 })).toEqual({ width: 640, height: 360 });
  });

  it('puts every re-encoded frame back on its own timestamp at 90 kHz', () => {
    const args = frameEncodeArgs({ size: { width: 4, height: 2 }, format: 'gray', times: [10, 10.04, 10.1], segmentFile: '/tmp/x.ts' });
    const filter = args[args.indexOf('-filter:v') + 1]!;
    expect(filter).toMatch(/^settb=1\/90000,setpts=round\(\(if\(eq\(N\\\\\\,0\)\\\\\\,10\\\\\\,if\(eq\(N\\\\\\,1\)\\\\\\,10\.04\\\\\\,10\.1\)\)\)\/TB\),format=yuv420p$/);
    expect(args).toEqual(expect.arrayContaining(['-enc_time_base:v', '1/90000', '-c:a', 'copy', 'file:/tmp/x.ts']));
    expect(args.filter((a) => a === '-protocol_whitelist')).toHaveLength(2);
  });
});

describe('fpsGridFilter', () => {
  it('keeps a frame when a slot of the output grid falls within its display time, and moves it there', () => {
    expect(fpsGridFilter(10, 25)).toBe('select=lt(ceil(t*10-0.000001)\\\\\\,(t+0.04)*10-0.000001),setpts=round(ceil(T*10-0.000001)/10/TB)');
  });

  it("falls back to ffmpeg's fps filter to raise the rate or when the source rate is unknown", () => {
    expect(fpsGridFilter(30, 25)).toBe('fps=fps=30:round=up');
    expect(fpsGridFilter(10)).toBe('fps=fps=10:round=up');
    expect(() => fpsGridFilter(0)).toThrow(/fps/);
  });

  it('reads the source rate from a probe', () => {
    expect(sourceFrameRate({ streams: [{ index: 0, codec_type: 'video', r_frame_rate: '30000/1001' }], format: {} })).toBeCloseTo(29.97, 2);
    expect(sourceFrameRate({ streams: [{ index: 0, codec_type: 'video', r_frame_rate: '0/0', avg_frame_rate: '25/1' }], format: {} })).toBe(25);
    expect(sourceFrameRate({ streams: [], format: {} })).toBeUndefined();
  });
});

describe('segment inspection', () => {
  const ts = (packets: number) => {
    const b = new Uint8Array(188 * packets);
    for (let i = 0; i < b.length; i += 188) b[i] = 0x47;
    return b;
  };

  it('refuses empty, cut and foreign bytes, naming what they look like', () => {
    expect(() => checkSegmentBytes(new Uint8Array(0))).toThrow(/empty/);
    expect(() => checkSegmentBytes(ts(3).subarray(0, 400))).toThrow(/truncated.*188-byte/);
    expect(() => checkSegmentBytes(Uint8Array.from([0, 0, 0, 0x20, 0x66, 0x74, 0x79, 0x70]))).toThrow(/MP4/);
    expect(() => checkSegmentBytes(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]))).toThrow(/PNG/);
    expect(() => checkSegmentBytes(ts(3))).not.toThrow();
  });

  it('refuses another container, no media, a huge picture and a segment far shorter than its header says', () => {
    const video = { index: 0, codec_type: 'video', width: 640, height: 360 };
    const ok = { streams: [video], format: { format_name: 'mpegts' }, mediaSeconds: 2 };
    expect(() => checkSegmentProbe(ok, { duration: 2 })).not.toThrow();
    expect(() => checkSegmentProbe({ ...ok, format: { format_name: 'mov,mp4' } }, { duration: 2 })).toThrow(/not MPEG-TS/);
    expect(() => checkSegmentProbe({ ...ok, streams: [] }, { duration: 2 })).toThrow(/no audio or video/);
    expect(() => checkSegmentProbe({ ...ok, streams: [{ ...video, width: 16384, height: 16384 }] }, { duration: 2 })).toThrow(/16384x16384, above/);
    expect(() => checkSegmentProbe({ ...ok, mediaSeconds: 0.6 }, { duration: 2 })).toThrow(/truncated: it holds 0.600 s/);
    // The short last segment of a publish is not a truncated one.
    expect(() => checkSegmentProbe({ ...ok, mediaSeconds: 0.4 }, { duration: 0.4 })).not.toThrow();
  });
});
