import { BadRequestException, Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { InvalidNameError, assertToken } from '@livemesh/contracts';

/** Refuses a path parameter that is not a token (letters, digits, '-', '_'; 1-64 chars). */
@Injectable()
export class TokenPipe implements PipeTransform<string, string> {
  transform(value: string, meta: ArgumentMetadata): string {
    try {
      return assertToken(meta.data ?? 'id', value);
    } catch (e) {
      if (e instanceof InvalidNameError) throw new BadRequestException(e.message);
      throw e;
    }
  }
}
