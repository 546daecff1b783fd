import { demuxLogs } from './docker.logs.js';

const frame = (kind: number, text: string): Buffer => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = kind;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

describe('demuxLogs', () => {
  it('joins stdout and stderr frames in order, without their headers', () => {
    expect(demuxLogs(Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]))).toBe('out 1\nerr 1\nout 2\n');
  });

  it('keeps a TTY container log (no frames) as plain text', () => {
    expect(demuxLogs(Buffer.from('plain text log\n'))).toBe('plain text log\n');
  });

  it('keeps a truncated last frame as text rather than reading past the buffer', () => {
    const whole = frame(1, 'complete\n');
    const cut = frame(2, 'cut short\n').subarray(0, 12);
    expect(demuxLogs(Buffer.concat([whole, cut]))).toBe(`complete\n${cut.toString('utf8')}`);
  });

  it('is empty for an empty log', () => {
    expect(demuxLogs(Buffer.alloc(0))).toBe('');
  });
});
