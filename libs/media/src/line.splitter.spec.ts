import { PassThrough } from 'node:stream';
import { LineSplitter, readLines } from './line.splitter.js';

describe('LineSplitter', () => {
  it('joins lines split across chunks; \\n, \\r\\n and a bare \\r end a line; empty lines go', () => {
    const s = new LineSplitter();
    expect(s.push('one\ntw')).toEqual(['one']);
    expect(s.pending).toBe('tw');
    expect(s.push('o\r\n\nframe=1\rframe=2\r')).toEqual(['two', 'frame=1', 'frame=2']);
    expect(s.push('\nlast')).toEqual([]);
    expect(s.end()).toEqual(['last']);
    expect(s.end()).toEqual([]);
  });

  it('hands on a line that never ends as its last maxLine characters', () => {
    const s = new LineSplitter(4);
    expect(s.push('abcdefgh')).toEqual(['efgh']);
    expect(s.pending).toBe('');
  });
});

describe('readLines', () => {
  it('reads every line of a stream, the unterminated last one included', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    readLines(stream, (l) => lines.push(l));
    const ended = new Promise((r) => stream.on('end', r));
    stream.write('a\nb');
    stream.end('c\r\nd');
    await ended;
    expect(lines).toEqual(['a', 'bc', 'd']);
  });
});
