import { CLOCK_CODE, clockCodeWidth, drawClockCode, readClockCode } from './clock.code.js';
import { runFfmpeg } from './ffmpeg.runner.js';

const { width, height, block } = CLOCK_CODE;

/** A grey test picture with some texture, the clock painted top-left. */
function frame(ms: number): Buffer {
  const luma = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) luma[y * width + x] = 60 + ((x * 7 + y * 13) % 120);
  drawClockCode(luma, width, ms);
  return luma;
}

describe('clock code', () => {
  it('fits the reference picture and reads back what was drawn', () => {
    expect(clockCodeWidth()).toBeLessThanOrEqual(width);
    const ms = 1_796_533_502_123;
    expect(readClockCode(frame(ms), width)).toBe(ms);
  });

  it('refuses a damaged code and a picture without one', () => {
    const ms = 1_796_533_502_123;
    const f = frame(ms);
    // Flip the least significant bit of the milliseconds: the checksum no longer holds.
    const lsb = 2 + CLOCK_CODE.bits - 1;
    const was = f[Math.floor(block / 2) * width + lsb * block + Math.floor(block / 2)]!;
    for (let y = 0; y < block; y++) f.fill(was > 128 ? 16 : 235, y * width + lsb * block, y * width + (lsb + 1) * block);
    expect(readClockCode(f, width)).toBeUndefined();
    expect(readClockCode(Buffer.alloc(width * block, 128), width)).toBeUndefined();
  });

  it('survives H.264 at a low bitrate, scaled to 854x480 and back, as a player gets it', async () => {
    const ms = Date.now();
    // yuv420p: the grey plane plus neutral chroma.
    const yuv = Buffer.concat([frame(ms), Buffer.alloc((width * height) / 2, 128)]);
    const { stdout } = await runFfmpeg(
      [
        '-hide_banner', '-loglevel', 'error',
        '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-r', '30', '-i', 'pipe:0',
        '-vf', 'scale=854:480', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '300k', '-f', 'h264', '-',
      ],
      { input: yuv, timeoutMs: 30_000 },
    );
    const { stdout: gray } = await runFfmpeg(
      ['-hide_banner', '-loglevel', 'error', '-f', 'h264', '-i', 'pipe:0', '-vf', `scale=${width}:${height},crop=${width}:${block}:0:0,format=gray`, '-f', 'rawvideo', '-'],
      { input: stdout, timeoutMs: 30_000 },
    );
    expect(gray.length).toBe(width * block);
    expect(readClockCode(gray, width)).toBe(ms);
  });
});
