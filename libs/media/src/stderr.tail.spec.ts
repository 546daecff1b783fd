import { MediaInputError } from '@livemesh/contracts';
import { assertSaneDimensions } from './probe.guard.js';
import { StderrTail, isInputFailure, isProgressLine } from './stderr.tail.js';

describe('StderrTail', () => {
  it('keeps only the last lines within its bound', () => {
    const t = new StderrTail(20);
    for (let i = 0; i < 100; i++) t.push(`line ${i}\n`);
    expect(t.toString()).toBe('line 98\nline 99');
  });

  it('joins lines split across chunks and drops filtered ones', () => {
    const t = new StderrTail(1000, (l) => !isProgressLine(l));
    t.push('frame=1\nprog');
    t.push('ress=continue\nreal err');
    t.push('or\r\n');
    expect(t.toString()).toBe('real error');
  });
});

describe('isInputFailure', () => {
  it.each([
    'pipe:0: Invalid data found when processing input',
    'pipe:0: could not find codec parameters',
    '[mpegts @ 0x1] sample rate not set',
    'Stream map \'0:v:0\' matches no streams.',
    '[h264 @ 0x1] Picture size 99999x99999 is invalid',
    'pipe:0: Invalid argument',
  ])('counts %j as bad input', (s) => expect(isInputFailure(s)).toBe(true));

  it.each(['Unknown encoder \'libx265\'', 'Unrecognized option \'foo\'.', "[libx264 @ 0x1] Error setting option x to value y.\nInvalid argument"])('counts %j as our failure', (s) =>
    expect(isInputFailure(s)).toBe(false));
});

describe('assertSaneDimensions', () => {
  const video = (width?: number, height?: number) => ({ streams: [{ index: 0, codec_type: 'video', width, height }, { index: 1, codec_type: 'audio' }], format: {} });

  it('accepts up to 8K', () => {
    expect(() => assertSaneDimensions(video(7680, 4320))).not.toThrow();
    expect(() => assertSaneDimensions({ streams: [{ index: 0, codec_type: 'audio' }], format: {} })).not.toThrow();
  });

  it.each([[7681, 100], [100, 4321], [0, 100], [undefined, undefined], [30000, 30000]])('refuses %sx%s', (w, h) => {
    expect(() => assertSaneDimensions(video(w, h))).toThrow(MediaInputError);
  });

  it('honours custom limits', () => {
    expect(() => assertSaneDimensions(video(1920, 1080), { maxWidth: 1280, maxHeight: 720 })).toThrow(MediaInputError);
  });
});
