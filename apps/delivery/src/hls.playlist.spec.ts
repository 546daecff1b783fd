import { HlsPlaylist, pictureSize, type HlsPlaylistOptions, type PlaylistSegment } from './hls.playlist.js';
import { renderMultivariant } from './hls.multivariant.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** A playlist on a hand-driven clock. */
function setup(opts: Partial<HlsPlaylistOptions> = {}) {
  const clock = { t: T0 };
  const playlist = new HlsPlaylist({ window: 3, now: () => clock.t, ...opts });
  return { clock, playlist };
}

/** Segment `seq` of a 2 s timeline cut at ingest 2 s after its start. */
function seg(seq: number, over: Partial<PlaylistSegment> = {}): PlaylistSegment {
  const duration = over.duration ?? 2;
  const pts = over.pts ?? 10 + seq * 2;
  return {
    seq,
    duration,
    pts,
    ingestTime: T0 + (seq + 1) * 2000,
    epoch: 0,
    data: new Uint8Array(188 * 10),
    ...over,
  };
}

const uris = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
const tag = (text: string, name: string): string | undefined =>
  text.split('\n').find((l) => l.startsWith(`#${name}:`))?.slice(name.length + 2);
const count = (text: string, line: string): number => text.split('\n').filter((l) => l === line).length;

describe('HlsPlaylist', () => {
  it('lists segments in seq order whatever order they arrive in', () => {
    const { playlist } = setup({ window: 6 });
    expect(playlist.push(seg(0)).emitted.map((e) => e.seq)).toEqual([0]);
    const r2 = playlist.push(seg(2));
    expect(r2).toMatchObject({ outcome: 'buffered', waiting: true, emitted: [] });
    const r3 = playlist.push(seg(3));
    expect(r3.emitted).toEqual([]);
    const r1 = playlist.push(seg(1));
    expect(r1.emitted.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(r1.waiting).toBe(false);
    const text = playlist.render();
    expect(uris(text)).toEqual(['0.ts', '1.ts', '2.ts', '3.ts']);
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    expect(text).not.toContain('#EXT-X-ENDLIST');
  });

  it('waits for seq 0 when a later seq opens the stream (1, 0, 2)', () => {
    const { playlist } = setup();
    expect(playlist.push(seg(1)).emitted).toEqual([]);
    expect(playlist.push(seg(0)).emitted.map((e) => e.seq)).toEqual([0, 1]);
    expect(playlist.push(seg(2)).emitted.map((e) => e.seq)).toEqual([2]);
    expect(tag(playlist.render(), 'EXT-X-MEDIA-SEQUENCE')).toBe('0');
  });

  it('starts at the lowest seq after the gap wait when it joins mid-stream', () => {
    const { clock, playlist } = setup();
    playlist.push(seg(8));
    playlist.push(seg(7));
    clock.t += 3999;
    expect(playlist.tick().emitted).toEqual([]);
    clock.t += 1;
    expect(playlist.tick().emitted.map((e) => e.seq)).toEqual([7, 8]);
    const text = playlist.render();
    expect(tag(text, 'EXT-X-MEDIA-SEQUENCE')).toBe('7');
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
  });

  it('ignores duplicates, buffered or already listed', () => {
    const { playlist } = setup();
    playlist.push(seg(0));
    expect(playlist.push(seg(0)).outcome).toBe('duplicate');
    playlist.push(seg(2));
    expect(playlist.push(seg(2)).outcome).toBe('duplicate');
    playlist.push(seg(1));
    expect(uris(playlist.render())).toEqual(['0.ts', '1.ts', '2.ts']);
  });

  it('skips a missing seq after 2 target durations and marks the hole with a discontinuity', () => {
    const { clock, playlist } = setup({ window: 6 });
    playlist.push(seg(0));
    playlist.push(seg(1));
    clock.t += 500;
    playlist.push(seg(3));
    clock.t += 1000;
    playlist.push(seg(4));
    expect(playlist.bufferedCount).toBe(2);
    // The wait counts from seq 3's arrival (the earliest later segment), not seq 4's.
    clock.t += 2999;
    expect(playlist.tick()).toMatchObject({ emitted: [], skipped: [] });
    clock.t += 1;
    const change = playlist.tick();
    expect(change.skipped).toEqual([{ from: 2, to: 2 }]);
    expect(change.emitted.map((e) => e.seq)).toEqual([3, 4]);
    expect(change.emitted.map((e) => e.discontinuity)).toEqual([true, false]);
    const text = playlist.render();
    expect(uris(text)).toEqual(['0.ts', '1.ts', '3.ts', '4.ts']);
    const lines = text.split('\n');
    expect(lines[lines.indexOf('3.ts') - 3]).toBe('#EXT-X-DISCONTINUITY');
    expect(count(text, '#EXT-X-DISCONTINUITY')).toBe(1);
    // The skipped seq turning up afterwards is late, not a duplicate, and changes nothing.
    expect(playlist.push(seg(2)).outcome).toBe('late');
    expect(uris(playlist.render())).toEqual(['0.ts', '1.ts', '3.ts', '4.ts']);
  });

  describe('gap markers', () => {
    it('skips a marked seq at once, with a discontinuity, before and after the next segment arrives', () => {
      const { playlist } = setup({ window: 6 });
      playlist.push(seg(0));
      // Marked before the next one arrives: the playlist moves past it right away.
      expect(playlist.markGap(1)).toMatchObject({ outcome: 'marked', skipped: [{ from: 1, to: 1, marked: true }] });
      expect(playlist.push(seg(2)).emitted.map((e) => [e.seq, e.discontinuity])).toEqual([[2, true]]);
      // Marked after a later one is already waiting: it is listed without the gap wait.
      expect(playlist.push(seg(4)).waiting).toBe(true);
      const change = playlist.markGap(3);
      expect(change.skipped).toEqual([{ from: 3, to: 3, marked: true }]);
      expect(change.emitted.map((e) => e.seq)).toEqual([4]);
      expect(uris(playlist.render())).toEqual(['0.ts', '2.ts', '4.ts']);
      expect(count(playlist.render(), '#EXT-X-DISCONTINUITY')).toBe(2);
      // The real segment turning up afterwards is late and changes nothing.
      expect(playlist.push(seg(3)).outcome).toBe('late');
    });

    it('coalesces a run of marked seqs into one range and one discontinuity', () => {
      const { playlist } = setup({ window: 6 });
      playlist.push(seg(0));
      for (const seq of [3, 2, 1]) playlist.markGap(seq);
      const r = playlist.push(seg(4));
      expect(r.emitted.map((e) => e.seq)).toEqual([4]);
      expect(count(playlist.render(), '#EXT-X-DISCONTINUITY')).toBe(1);
    });

    it('changes nothing for a seq already listed, buffered or marked; refuses one too far ahead', () => {
      const { playlist } = setup({ window: 3 });
      playlist.push(seg(0));
      playlist.push(seg(2));
      expect(playlist.markGap(0).outcome).toBe('duplicate');
      expect(playlist.markGap(2).outcome).toBe('duplicate');
      expect(playlist.markGap(5).outcome).toBe('marked');
      expect(playlist.markGap(5).outcome).toBe('duplicate');
      expect(playlist.markGap(1_000_000_000_000_000).outcome).toBe('too-far');
      expect(playlist.markGap(-1).outcome).toBe('too-far');
    });

    it('starts a stream at once when every seq before its first segment was marked', () => {
      const { playlist } = setup();
      playlist.markGap(0);
      playlist.markGap(1);
      const r = playlist.push(seg(2));
      expect(r.emitted.map((e) => [e.seq, e.discontinuity])).toEqual([[2, false]]);
      expect(r.skipped).toEqual([{ from: 0, to: 1, marked: true }]);
      // Without markers, a first segment other than 0 waits for earlier ones.
      const other = setup().playlist;
      expect(other.push(seg(2)).emitted).toEqual([]);
    });

    it('ends without waiting when the last seqs were marked', () => {
      const { playlist } = setup();
      playlist.push(seg(0));
      playlist.end(2);
      playlist.markGap(1);
      expect(playlist.ended).toBe(false);
      expect(playlist.markGap(2).ended).toBe(true);
    });
  });

  it('takes the gap wait as an option', () => {
    const { clock, playlist } = setup({ gapWaitTargetDurations: 0.5 });
    playlist.push(seg(0));
    playlist.push(seg(2));
    clock.t += 999;
    expect(playlist.tick().skipped).toEqual([]);
    clock.t += 1;
    expect(playlist.tick().skipped).toEqual([{ from: 1, to: 1 }]);
  });

  it('skips at once when too many segments pile up behind a gap', () => {
    const { playlist } = setup({ maxBuffered: 2 });
    playlist.push(seg(0));
    playlist.push(seg(2));
    playlist.push(seg(3));
    const r = playlist.push(seg(4));
    expect(r.skipped).toEqual([{ from: 1, to: 1 }]);
    expect(r.emitted.map((e) => e.seq)).toEqual([2, 3, 4]);
  });

  it('slides its window: media sequence advances and old segments leave memory', () => {
    const { playlist } = setup({ window: 3 });
    for (let s = 0; s < 5; s++) playlist.push(seg(s));
    const text = playlist.render();
    expect(uris(text)).toEqual(['2.ts', '3.ts', '4.ts']);
    expect(tag(text, 'EXT-X-MEDIA-SEQUENCE')).toBe('2');
    expect(playlist.listed.map((e) => e.msn)).toEqual([2, 3, 4]);
    // Just-retired segments stay fetchable for a player that loaded the previous playlist...
    expect(playlist.segment(0)?.seq).toBe(0);
    for (let s = 5; s < 9; s++) playlist.push(seg(s));
    // ...but no longer than one more window.
    expect(playlist.segment(0)).toBeUndefined();
    expect(playlist.segment(1)).toBeUndefined();
    expect(playlist.segment(3)?.seq).toBe(3);
    expect(playlist.segment(8)?.seq).toBe(8);
  });

  it('counts the discontinuities that slid out of the window', () => {
    const { playlist } = setup({ window: 2 });
    playlist.push(seg(0));
    playlist.push(seg(1, { epoch: 1, pts: 0 }));
    playlist.push(seg(2, { epoch: 1, pts: 2 }));
    let text = playlist.render();
    // The tag is still listed (before seq 1, now first): not yet counted.
    expect(uris(text)).toEqual(['1.ts', '2.ts']);
    expect(tag(text, 'EXT-X-DISCONTINUITY-SEQUENCE')).toBeUndefined();
    expect(text.split('\n').slice(4, 5)).toEqual(['#EXT-X-DISCONTINUITY']);
    playlist.push(seg(3, { epoch: 1, pts: 4 }));
    text = playlist.render();
    expect(tag(text, 'EXT-X-DISCONTINUITY-SEQUENCE')).toBe('1');
    expect(text).not.toContain('#EXT-X-DISCONTINUITY\n');
  });

  it('sets the target duration to the longest EXTINF rounded to nearest, and never lowers it', () => {
    const { playlist } = setup({ window: 2 });
    playlist.push(seg(0, { duration: 2 }));
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('2');
    playlist.push(seg(1, { duration: 2.021 }));
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('2');
    playlist.push(seg(2, { duration: 2.5 }));
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('3');
    playlist.push(seg(3, { duration: 1.9 }));
    playlist.push(seg(4, { duration: 2 }));
    expect(playlist.listed.map((e) => e.seq)).toEqual([3, 4]);
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('3');
    expect(playlist.render()).toContain('#EXTINF:1.900,\n3.ts');
  });

  it('can take the ceiling of the longest EXTINF instead', () => {
    const { playlist } = setup({ targetDurationRounding: 'ceil' });
    playlist.push(seg(0, { duration: 2.0004 }));
    // EXTINF is written at 3 decimals (2.000): the target follows what is written.
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('2');
    playlist.push(seg(1, { duration: 2.021 }));
    expect(tag(playlist.render(), 'EXT-X-TARGETDURATION')).toBe('3');
  });

  it('writes EXTINF at 3 decimals and the header of a version 3 playlist', () => {
    const { playlist } = setup();
    playlist.push(seg(0, { duration: 2.0216666 }));
    const text = playlist.render();
    expect(text.startsWith('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n')).toBe(true);
    expect(text).toContain('#EXTINF:2.022,\n0.ts\n');
  });

  it('puts the URI prefix before each segment', () => {
    const { playlist } = setup();
    playlist.push(seg(0));
    expect(uris(playlist.render('main/'))).toEqual(['main/0.ts']);
  });

  it('derives program date-time from ingest time and keeps it on the pts timeline', () => {
    const { playlist } = setup({ window: 6 });
    playlist.push(seg(0, { ingestTime: T0 + 2000 }));
    // Jittery ingest clock: PDT still follows pts, not the cut time.
    playlist.push(seg(1, { ingestTime: T0 + 4700 }));
    const pdts = playlist.listed.map((e) => e.programDateTime);
    expect(pdts).toEqual([T0, T0 + 2000]);
    expect(tag(playlist.render(), 'EXT-X-PROGRAM-DATE-TIME')).toBe(new Date(T0).toISOString());
  });

  it('marks a discontinuity when the epoch changes and re-anchors the date-time', () => {
    const { playlist } = setup({ window: 6 });
    playlist.push(seg(0));
    playlist.push(seg(1));
    const restart = T0 + 60_000;
    const r = playlist.push(seg(2, { epoch: 1, pts: 0, ingestTime: restart + 2000 }));
    expect(r.emitted[0]).toMatchObject({ discontinuity: true, programDateTime: restart });
    playlist.push(seg(3, { epoch: 1, pts: 2, ingestTime: restart + 4000 }));
    const text = playlist.render();
    expect(count(text, '#EXT-X-DISCONTINUITY')).toBe(1);
    const lines = text.split('\n');
    expect(lines[lines.indexOf('2.ts') - 3]).toBe('#EXT-X-DISCONTINUITY');
  });

  describe('end', () => {
    it('appends EXT-X-ENDLIST at once when the last seq is in', () => {
      const { playlist } = setup();
      playlist.push(seg(0));
      playlist.push(seg(1));
      const change = playlist.end(1);
      expect(change.ended).toBe(true);
      expect(playlist.ended).toBe(true);
      const text = playlist.render();
      expect(text.trimEnd().split('\n').at(-1)).toBe('#EXT-X-ENDLIST');
      expect(playlist.push(seg(2)).outcome).toBe('after-end');
      expect(uris(playlist.render())).toEqual(['0.ts', '1.ts']);
    });

    it('waits for stragglers up to the last seq', () => {
      const { playlist } = setup();
      playlist.push(seg(0));
      expect(playlist.end(2).ended).toBe(false);
      playlist.push(seg(2));
      const r = playlist.push(seg(1));
      expect(r.emitted.map((e) => e.seq)).toEqual([1, 2]);
      expect(r.ended).toBe(true);
      expect(playlist.render()).toContain('2.ts\n#EXT-X-ENDLIST\n');
    });

    it('without a last seq, ends after the grace and lists what was still buffered', () => {
      const { clock, playlist } = setup({ endGraceMs: 1000 });
      playlist.push(seg(0));
      playlist.push(seg(2));
      expect(playlist.end().ended).toBe(false);
      clock.t += 999;
      expect(playlist.tick().ended).toBe(false);
      clock.t += 1;
      const change = playlist.tick();
      expect(change).toMatchObject({ ended: true, skipped: [{ from: 1, to: 1 }] });
      expect(change.emitted.map((e) => e.seq)).toEqual([2]);
      expect(uris(playlist.render())).toEqual(['0.ts', '2.ts']);
      expect(playlist.render()).toContain('#EXT-X-ENDLIST');
      expect(playlist.tick().ended).toBe(false);
    });
  });

  it('estimates bandwidth and reads the picture size from transfer parameters', () => {
    const { playlist } = setup();
    playlist.push(seg(0, { data: new Uint8Array(250_000), duration: 2, ...pictureSize({ transfer: { width: 320, height: 240 } }) }));
    playlist.push(seg(1, { data: new Uint8Array(500_000), duration: 2 }));
    expect(playlist.bandwidth()).toEqual({ peak: 2_000_000, average: 1_500_000 });
    expect(playlist.resolution()).toEqual({ width: 320, height: 240 });
    expect(pictureSize({ transfer: { width: '320', height: 240 } })).toEqual({});
    expect(pictureSize({})).toEqual({});
  });
});

describe('renderMultivariant', () => {
  it('links every rendition with its bandwidth and, when known, its resolution', () => {
    const text = renderMultivariant([
      { rendition: 'r720', bandwidth: 2_500_000.4, averageBandwidth: 2_000_000, resolution: { width: 1280, height: 720 } },
      { rendition: 'main', bandwidth: 800_000 },
    ]);
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-STREAM-INF:BANDWIDTH=800000',
        'main/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=2500001,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720',
        'r720/index.m3u8',
        '',
      ].join('\n'),
    );
  });
});

describe('HlsPlaylist time-shift index', () => {
  it('indexes listed segments (without bytes) beyond the live window, for archiveSeconds', () => {
    const { clock, playlist } = setup({ window: 3, archiveSeconds: 10 });
    for (let s = 0; s < 8; s++) {
      clock.t = T0 + (s + 1) * 2000;
      playlist.push(seg(s, { ref: 100 + s }));
    }
    expect(uris(playlist.render())).toEqual(['5.ts', '6.ts', '7.ts']);
    // Cut more than 10 s before the last arrival: aged out, as LM_OUT ages them out.
    expect(playlist.archived.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(playlist.archivedSegment(3)).toMatchObject({ seq: 3, ref: 103, msn: 3 });
    expect('data' in playlist.archivedSegment(3)!).toBe(false);
    expect(playlist.archivedSegment(1)).toBeUndefined();
  });

  it('renders a playlist from a seq to the live edge that a player starts at its head', () => {
    const { playlist } = setup({ window: 3, archiveSeconds: 600 });
    for (let s = 0; s < 6; s++) playlist.push(seg(s));
    const text = playlist.renderFrom(2, { uriPrefix: 'main/' })!;
    expect(uris(text)).toEqual(['main/2.ts', 'main/3.ts', 'main/4.ts', 'main/5.ts']);
    expect(tag(text, 'EXT-X-MEDIA-SEQUENCE')).toBe('2');
    expect(tag(text, 'EXT-X-START')).toBe('TIME-OFFSET=0,PRECISE=YES');
    expect(text).not.toContain('#EXT-X-PLAYLIST-TYPE');
    expect(text).not.toContain('#EXT-X-ENDLIST');
    playlist.end(5);
    expect(playlist.renderFrom(2)!.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('renders an EVENT playlist from the oldest indexed segment, with the discontinuity count carried', () => {
    const { clock, playlist } = setup({ window: 2, archiveSeconds: 600 });
    playlist.push(seg(0));
    playlist.push(seg(1, { epoch: 1, pts: 0 }));
    playlist.push(seg(2, { epoch: 1, pts: 2 }));
    clock.t += 10;
    const event = playlist.renderFrom(undefined, { event: true })!;
    expect(tag(event, 'EXT-X-PLAYLIST-TYPE')).toBe('EVENT');
    expect(uris(event)).toEqual(['0.ts', '1.ts', '2.ts']);
    expect(count(event, '#EXT-X-DISCONTINUITY')).toBe(1);
    const fromTwo = playlist.renderFrom(2)!;
    expect(tag(fromTwo, 'EXT-X-DISCONTINUITY-SEQUENCE')).toBe('1');
    expect(count(fromTwo, '#EXT-X-DISCONTINUITY')).toBe(0);
  });

  it('finds the seq that was live N seconds ago, else the oldest', () => {
    const { playlist } = setup({ window: 3, archiveSeconds: 600 });
    for (let s = 0; s < 8; s++) playlist.push(seg(s));
    // Live edge: seq 7 ends 16 s after seq 0 began.
    expect(playlist.seqBehindLive(0)).toBe(7);
    expect(playlist.seqBehindLive(6)).toBe(5);
    expect(playlist.seqBehindLive(9)).toBe(4);
    expect(playlist.seqBehindLive(3600)).toBe(0);
  });

  it('keeps no index without archiveSeconds', () => {
    const { playlist } = setup({ window: 3 });
    playlist.push(seg(0));
    expect(playlist.archived).toEqual([]);
    expect(playlist.renderFrom(0)).toBeUndefined();
  });

  describe('hostile seqs', () => {
    it('refuses a forged jump of 10^15 at once, and the stream keeps listing its own seqs', () => {
      const { playlist } = setup({ window: 3 });
      for (let s = 0; s < 3; s++) playlist.push(seg(s));
      const started = performance.now();
      expect(playlist.push(seg(1_000_000_000_000_000)).outcome).toBe('too-far');
      expect(playlist.push(seg(Number.MAX_SAFE_INTEGER + 2)).outcome).toBe('too-far');
      expect(performance.now() - started).toBeLessThan(50);
      expect(playlist.bufferedCount).toBe(0);
      const r = playlist.push(seg(3));
      expect(r.emitted.map((e) => e.seq)).toEqual([3]);
      expect(uris(playlist.render())).toEqual(['1.ts', '2.ts', '3.ts']);
      expect(playlist.render()).not.toContain('DISCONTINUITY');
    });

    it('records a long skip as one range, whatever its size', () => {
      const { clock, playlist } = setup({ window: 3, maxBuffered: 1_000_000 });
      playlist.push(seg(0));
      playlist.push(seg(900_001));
      playlist.push(seg(900_002));
      clock.t += 4_000;
      const r = playlist.tick();
      expect(r.skipped).toEqual([{ from: 1, to: 900_000 }]);
      expect(r.emitted.map((e) => e.seq)).toEqual([900_001, 900_002]);
      expect(playlist.push(seg(450_000)).outcome).toBe('late');
    });

    it('refuses a forged seq that reached it before the start was chosen', () => {
      const { clock, playlist } = setup({ window: 3 });
      playlist.push(seg(1_000_000_000_000_000));
      playlist.push(seg(40));
      clock.t += 4_000;
      const change = playlist.tick();
      expect(change.refused).toEqual([1_000_000_000_000_000]);
      expect(change.emitted.map((e) => e.seq)).toEqual([40]);
      expect(playlist.push(seg(41)).emitted.map((e) => e.seq)).toEqual([41]);
    });

    it('follows a stream that truly moved on: a dense run of far seqs longer than the buffer', () => {
      const { playlist } = setup({ window: 3, maxBuffered: 4 });
      playlist.push(seg(0));
      // The same forged seq repeated never counts as the stream moving on.
      for (let i = 0; i < 20; i++) expect(playlist.push(seg(5_000)).outcome).toBe('too-far');
      for (let s = 100; s < 104; s++) expect(playlist.push(seg(s)).outcome).toBe('too-far');
      const r = playlist.push(seg(104));
      expect(r.outcome).toBe('buffered');
      expect(r.skipped).toEqual([{ from: 1, to: 103 }]);
      expect(r.emitted.map((e) => e.seq)).toEqual([104]);
      expect(playlist.push(seg(105)).emitted.map((e) => e.seq)).toEqual([105]);
      expect(playlist.push(seg(50)).outcome).toBe('late');
    });
  });
});
