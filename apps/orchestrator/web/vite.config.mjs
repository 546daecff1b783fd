// The operator's console (docs/console.md): Vite + Preact, built into the orchestrator's dist and
// served by it at / (the bundle under /console/). `npm run build` runs this.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // hls.js is loaded only when a preview opens; the rest stays small.
    chunkSizeWarningLimit: 600,
  },
  logLevel: 'warn',
});
