// The import-direction rule (docs/design.md, "Dependencies point one way"):
//   contracts  <- bus, media  <- runtime, stage-sdk  <- services  <- apps
// contracts imports no other lib; no lib imports an app; no app imports another app; every lib is
// reached through its package name (its src/index.ts is the only public door), never a deep path.
import tseslint from 'typescript-eslint';

const LIBS = ['contracts', 'bus', 'media', 'runtime', 'stage-sdk', 'services'];
const APPS = ['orchestrator', 'ingest', 'worker', 'delivery', 'cli'];
const allowed = {
  contracts: [],
  bus: ['contracts'],
  media: ['contracts'],
  runtime: ['contracts', 'bus', 'media'],
  'stage-sdk': ['contracts', 'bus', 'media'],
  services: ['contracts', 'media', 'stage-sdk'],
};

const deepImports = { group: ['@livemesh/*/*', '**/libs/**', '**/apps/**'], message: 'Import a lib by its package name (@livemesh/<lib>); its index.ts is the only public door, and apps are never imported.' };

const direction = [
  ...Object.entries(allowed).map(([lib, ok]) => ({
    files: [`libs/${lib}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...LIBS.filter((l) => l !== lib && !ok.includes(l)), ...APPS].map((n) => ({
          name: `@livemesh/${n}`,
          message: `libs/${lib} may import only ${ok.length ? ok.map((o) => '@livemesh/' + o).join(', ') : 'no other lib'} (dependencies point one way).`,
        })),
        patterns: [deepImports],
      }],
    },
  })),
  {
    files: APPS.map((a) => `apps/${a}/src/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', {
        paths: APPS.map((n) => ({ name: `@livemesh/${n}`, message: 'An app never imports another app: talk over NATS.' })),
        patterns: [deepImports],
      }],
    },
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.livemesh/**', 'coverage/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  ...direction,
  { files: ['scripts/**', 'bench/**', 'test/**', 'apps/cli/**', '**/*.spec.ts', 'examples/**'], rules: { 'no-console': 'off' } },
);
