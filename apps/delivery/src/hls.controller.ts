import { BadRequestException, Controller, Get, Header, HttpException, HttpStatus, NotFoundException, Param, Query, Res, StreamableFile } from '@nestjs/common';
import type { ServerResponse as Response } from 'node:http';
import { HlsRegistry } from './hls.registry.js';
import { SegmentArchive } from './segment.archive.js';
import { TokenPipe } from './token.pipe.js';

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
// A live playlist changes every segment; an ended one does not change any more.
const LIVE_PLAYLIST_CACHE = 'max-age=1';
const ENDED_PLAYLIST_CACHE = 'max-age=300';
// A segment URI names one seq of one stream, and its bytes never change.
const SEGMENT_CACHE = 'max-age=86400, immutable';
const SEGMENT_FILE = /^(\d{1,15})\.ts$/;
const SECONDS = /^-?\d{1,6}$/;
const SEQ = /^\d{1,15}$/;

interface TimeShift {
  /** `?start=-300`: start this many seconds behind live. */
  start?: string;
  /** `?from=<seq>`: the playlist a time-shifted start resolves to. */
  from?: string;
}

/**
 * The HLS origin, served from memory (the live window) and LM_OUT (older segments). CORS is enabled
 * app-wide (players run on other origins).
 *
 * Time-shift: `index.m3u8?start=-300` redirects to `index.m3u8?from=<seq>`, a playlist from the
 * segment that was live 300 s ago up to the live edge with EXT-X-START at its head; the redirect
 * fixes the start, so the player's reloads keep it. `event.m3u8` is an EVENT playlist from the
 * oldest segment LM_OUT still holds.
 */
@Controller('hls')
export class HlsController {
  constructor(
    private readonly registry: HlsRegistry,
    private readonly archive: SegmentArchive,
  ) {}

  @Get(':streamId/index.m3u8')
  streamIndex(@Param('streamId', TokenPipe) streamId: string, @Query() q: TimeShift, @Res({ passthrough: true }) res: Response): string {
    const shift = this.timeShift(streamId, q, res);
    const single = this.singleRendition(streamId);
    if (shift !== undefined) {
      if (single) return this.fromPlaylist(streamId, single, shift, res, `${single}/`);
      const master = this.registry.multivariant(streamId, `index.m3u8?from=${shift}`);
      if (!master) throw this.streamNotFound(streamId);
      playlistHeaders(res, master.ended);
      return master.text;
    }
    const index = this.registry.streamIndex(streamId);
    if (!index) throw this.streamNotFound(streamId);
    playlistHeaders(res, index.ended);
    return index.text;
  }

  @Get(':streamId/event.m3u8')
  streamEvent(@Param('streamId', TokenPipe) streamId: string, @Res({ passthrough: true }) res: Response): string {
    const single = this.singleRendition(streamId);
    if (single) return this.eventPlaylist(streamId, single, res, `${single}/`);
    const master = this.registry.multivariant(streamId, 'event.m3u8');
    if (!master) throw this.streamNotFound(streamId);
    playlistHeaders(res, master.ended);
    return master.text;
  }

  @Get(':streamId/:rendition/:file')
  @Header('X-Content-Type-Options', 'nosniff')
  async renditionFile(
    @Param('streamId', TokenPipe) streamId: string,
    @Param('rendition', TokenPipe) rendition: string,
    @Param('file') file: string,
    @Query() q: TimeShift,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string | StreamableFile> {
    if (file === 'index.m3u8') {
      const shift = this.timeShift(streamId, q, res);
      if (shift !== undefined) return this.fromPlaylist(streamId, rendition, shift, res);
      const playlist = this.registry.playlist(streamId, rendition);
      if (!playlist) throw this.renditionNotFound(streamId, rendition);
      playlistHeaders(res, playlist.ended);
      return playlist.render();
    }
    if (file === 'event.m3u8') return this.eventPlaylist(streamId, rendition, res);
    const m = SEGMENT_FILE.exec(file);
    if (!m) throw new NotFoundException(`no file ${JSON.stringify(file)}: a rendition serves index.m3u8, event.m3u8 and <seq>.ts`);
    const seq = Number(m[1]);
    const held = this.registry.segment(streamId, rendition, seq);
    let data = held?.data;
    if (!data) {
      // Not held: older than the window, or restored from a checkpoint without its bytes.
      const ref = held?.ref ?? this.registry.archivedRef(streamId, rendition, seq);
      if (ref !== undefined) data = await this.archive.read(ref, streamId, rendition, seq);
    }
    if (!data) {
      if (!this.registry.playlist(streamId, rendition)) throw this.renditionNotFound(streamId, rendition);
      throw new NotFoundException(`segment ${seq} of stream ${streamId}/${rendition} is not (or no longer) available`);
    }
    res.setHeader('Cache-Control', SEGMENT_CACHE);
    return new StreamableFile(data, { type: 'video/mp2t', length: data.byteLength });
  }

  /**
   * undefined: no time-shift asked; a seq: `?from=<seq>`. `?start=-N` is answered with a 302 to
   * `?from=<seq>` (relative, so it works behind the orchestrator's /hls proxy too); it is thrown,
   * as a returned body would be sent with the route's 200.
   */
  private timeShift(streamId: string, q: TimeShift, res: Response): number | undefined {
    if (q.from !== undefined) {
      if (typeof q.from !== 'string' || !SEQ.test(q.from)) throw new BadRequestException('from must be a segment number');
      return Number(q.from);
    }
    if (q.start === undefined) return undefined;
    if (typeof q.start !== 'string' || !SECONDS.test(q.start)) throw new BadRequestException('start must be whole seconds behind live, e.g. start=-300');
    const seq = this.registry.seqBehindLive(streamId, Math.abs(Number(q.start)));
    if (seq === undefined) throw this.streamNotFound(streamId);
    const location = `index.m3u8?from=${seq}`;
    res.setHeader('Location', location);
    // Where "300 s ago" is changes every second: the redirect itself must not be cached.
    res.setHeader('Cache-Control', 'no-store');
    throw new HttpException({ statusCode: HttpStatus.FOUND, message: `starts at segment ${seq}`, location }, HttpStatus.FOUND);
  }

  private fromPlaylist(streamId: string, rendition: string, from: number, res: Response, uriPrefix = ''): string {
    const playlist = this.registry.playlist(streamId, rendition);
    const text = playlist?.renderFrom(from, { uriPrefix });
    if (!playlist || !text) throw this.renditionNotFound(streamId, rendition);
    playlistHeaders(res, playlist.ended);
    return text;
  }

  private eventPlaylist(streamId: string, rendition: string, res: Response, uriPrefix = ''): string {
    const playlist = this.registry.playlist(streamId, rendition);
    const text = playlist?.renderFrom(undefined, { event: true, uriPrefix });
    if (!playlist || !text) throw this.renditionNotFound(streamId, rendition);
    playlistHeaders(res, playlist.ended);
    return text;
  }

  /** The rendition of a stream that has exactly one (its index is a media playlist). */
  private singleRendition(streamId: string): string | undefined {
    const live = this.registry.liveRenditions(streamId);
    return live?.length === 1 ? live[0]![0] : undefined;
  }

  private streamNotFound(streamId: string): NotFoundException {
    return new NotFoundException(
      this.registry.hasStream(streamId)
        ? `stream ${streamId} has no segment in its playlist yet`
        : `stream ${streamId} is not being delivered`,
    );
  }

  private renditionNotFound(streamId: string, rendition: string): NotFoundException {
    if (!this.registry.hasStream(streamId)) return this.streamNotFound(streamId);
    return new NotFoundException(`stream ${streamId} has no rendition ${rendition} with segments`);
  }
}

function playlistHeaders(res: Response, ended: boolean): void {
  res.setHeader('Content-Type', PLAYLIST_TYPE);
  res.setHeader('Cache-Control', ended ? ENDED_PLAYLIST_CACHE : LIVE_PLAYLIST_CACHE);
}
