import { Controller, Get, Header, Inject, Param, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Bus } from '@livemesh/bus';
import { NotFoundError, assertToken } from '@livemesh/contracts';
import { thumbnailBlobNames } from '@livemesh/services';
import { Scopes } from '../auth/auth.decorators.js';

/**
 * The latest picture the `thumbnail` service stored for a stream (`lm_blobs`, thumb/<id>/latest.jpg).
 * Read from the object store on each request: the service replaces it every few seconds.
 */
@ApiTags('streams')
@Controller('api/streams')
export class ThumbnailController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get(':id/thumbnail.jpg')
  @Scopes('read')
  @ApiOperation({ summary: "The stream's latest thumbnail (404 until a chain with the thumbnail service has made one)" })
  @ApiProduces('image/jpeg')
  @Header('Content-Type', 'image/jpeg')
  @Header('Cache-Control', 'no-cache')
  async latest(@Param('id') id: string): Promise<StreamableFile> {
    const name = thumbnailBlobNames.latest(assertToken('stream id', id));
    const jpeg = await this.bus.getBlob(name);
    if (!jpeg) throw new NotFoundError(`stream ${id} has no thumbnail yet (put the thumbnail service in its chain)`);
    return new StreamableFile(Buffer.from(jpeg));
  }
}
