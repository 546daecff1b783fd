import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';

/**
 * OpenAPI at /api/docs (JSON at /api/docs-json). Body schemas come from the class-validator
 * rules of the contracts DTOs, so the documentation is the validation and cannot drift from it.
 */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('livemesh orchestrator')
    .setDescription('Streams, the chains of services that process them, and the service and pipeline catalogue.')
    .setVersion('0.1.0')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'lm_<id>_<secret>',
      description: 'An API token (docs/security.md, "API tokens and scopes"). Each route names the scopes that may call it in x-livemesh-scopes: admin implies platform and read, platform implies read; /health and /hls are public.',
    })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const schemas = validationMetadatasToSchemas({ refPointerPrefix: '#/components/schemas/' }) as Record<string, object>;
  document.components = { ...document.components, schemas: { ...(document.components?.schemas ?? {}), ...schemas } };
  SwaggerModule.setup('api/docs', app, document);
}
