import { Controller, Get, Header, NotFoundException, Param, Res, StreamableFile } from '@nestjs/common';
import type { ServerResponse as Response } from 'node:http';
import { HlsRegistry } from './hls.registry.js';
import { TokenPipe } from './token.pipe.js';

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
// A live playlist changes every segment; an ended one does not change any more.
const LIVE_PLAYLIST_CACHE = 'max-age=1';
const ENDED_PLAYLIST_CACHE = 'max-age=300';
// A segment URI names one seq of one stream, and its bytes never change.
const SEGMENT_CACHE = 'max-age=86400, immutable';
const SEGMENT_FILE = /^(\d{1,15})\.ts$/;

/** The HLS origin, served from memory. CORS is enabled app-wide (players run on other origins). */
@Controller('hls')
export class HlsController {
  constructor(private readonly registry: HlsRegistry) {}

  @Get(':streamId/index.m3u8')
  streamIndex(@Param('streamId', TokenPipe) streamId: string, @Res({ passthrough: true }) res: Response): string {
    const index = this.registry.streamIndex(streamId);
    if (!index) throw this.streamNotFound(streamId);
    playlistHeaders(res, index.ended);
    return index.text;
  }

  @Get(':streamId/:rendition/:file')
  @Header('X-Content-Type-Options', 'nosniff')
  renditionFile(
    @Param('streamId', TokenPipe) streamId: string,
    @Param('rendition', TokenPipe) rendition: string,
    @Param('file') file: string,
    @Res({ passthrough: true }) res: Response,
  ): string | StreamableFile {
    if (file === 'index.m3u8') {
      const playlist = this.registry.playlist(streamId, rendition);
      if (!playlist) throw this.renditionNotFound(streamId, rendition);
      playlistHeaders(res, playlist.ended);
      return playlist.render();
    }
    const m = SEGMENT_FILE.exec(file);
    if (!m) throw new NotFoundException(`no file ${JSON.stringify(file)}: a rendition serves index.m3u8 and <seq>.ts`);
    const seq = Number(m[1]);
    const entry = this.registry.segment(streamId, rendition, seq);
    if (!entry) {
      if (!this.registry.playlist(streamId, rendition)) throw this.renditionNotFound(streamId, rendition);
      throw new NotFoundException(`segment ${seq} of stream ${streamId}/${rendition} is not (or no longer) available`);
    }
    res.setHeader('Cache-Control', SEGMENT_CACHE);
    return new StreamableFile(entry.data, { type: 'video/mp2t', length: entry.data.byteLength });
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
