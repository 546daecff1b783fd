import { audioNeedsReencode, reportedAudio } from './segmenter.run.js';

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
