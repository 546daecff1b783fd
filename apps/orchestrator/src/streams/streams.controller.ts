import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ChangeChainRequest, PlaybackUrlRequest, RotateKeyRequest, StartStreamRequest, type StreamView } from '@livemesh/contracts';
import { StreamCounters, type StreamDetailView } from './stream.counters.js';
import { StreamsService } from './streams.service.js';
import { Scopes } from '../auth/auth.decorators.js';

@ApiTags('streams')
@Controller('api/streams')
export class StreamsController {
  constructor(
    @Inject(StreamsService) private readonly streams: StreamsService,
    @Inject(StreamCounters) private readonly counters: StreamCounters,
  ) {}

  @Post()
  @Scopes('platform')
  @ApiOperation({ summary: 'Start a stream (201, with its publish key: the only time it is shown), or get the running one with the same id (200, without its key)' })
  @ApiBody({ schema: { $ref: '#/components/schemas/StartStreamRequest' } })
  async start(@Body() body: StartStreamRequest, @Res({ passthrough: true }) res: { status(code: number): unknown }): Promise<StreamView> {
    const { view, created } = await this.streams.start(body, 'http');
    res.status(created ? 201 : 200);
    return view;
  }

  @Get()
  @Scopes('read')
  list(): Promise<StreamView[]> {
    return this.streams.list();
  }

  @Get(':id')
  @Scopes('read')
  @ApiOperation({ summary: 'A stream: state, chain (hops, subjects, parameters), per-hop counters (processed, pending, failed), output segments, errors' })
  async get(@Param('id') id: string): Promise<StreamDetailView> {
    return this.counters.detail(await this.streams.get(id));
  }

  @Delete(':id')
  @Scopes('platform')
  @ApiOperation({ summary: 'Stop a stream: the publish key goes, in-flight segments drain, the playlist ends' })
  stop(@Param('id') id: string): Promise<StreamView> {
    return this.streams.stop(id);
  }

  @Post(':id/key')
  @Scopes('platform')
  @HttpCode(200)
  @ApiOperation({ summary: 'Give a starting or live stream a new publish key (the body\'s `key`, strength-checked, or a generated one); the answer is the only place it is shown; the old key stops at once' })
  @ApiBody({ required: false, schema: { $ref: '#/components/schemas/RotateKeyRequest' } })
  rotateKey(@Param('id') id: string, @Body() body: RotateKeyRequest = {}): Promise<StreamView> {
    return this.streams.rotateKey(id, body ?? {});
  }

  @Post(':id/playback-url')
  @Scopes('platform')
  @HttpCode(200)
  @ApiOperation({ summary: 'A fresh signed playback URL for a stream started with playback.signed, valid ttlSeconds (default: the stream\'s)' })
  @ApiBody({ required: false, schema: { $ref: '#/components/schemas/PlaybackUrlRequest' } })
  playbackUrl(@Param('id') id: string, @Body() body: PlaybackUrlRequest = {}): Promise<StreamView['playback']> {
    return this.streams.playbackUrl(id, body ?? {});
  }

  @Patch(':id/chain')
  @Scopes('platform')
  @ApiOperation({ summary: 'Replace the chain of a live stream; the next segment takes the new route' })
  @ApiBody({ schema: { $ref: '#/components/schemas/ChangeChainRequest' } })
  changeChain(@Param('id') id: string, @Body() body: ChangeChainRequest): Promise<StreamView> {
    return this.streams.changeChain(id, body);
  }
}
