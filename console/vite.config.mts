import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The web console: built into dist/console by `npm run build` (and so by `npm ci`), served by the
 * profile-materializer under /console/ (docs/console.md).
 */
export default defineConfig({
  root: here,
  base: '/console/',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // The chart library is most of the bundle; one file of it loads once and is cached for good.
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      // React Query marks modules "use client" for server-component bundlers; meaningless here.
      onLog(level, log, handler) {
        if (log.code === 'MODULE_LEVEL_DIRECTIVE') return;
        handler(level, log);
      },
    },
  },
  oxc: { jsx: { runtime: 'automatic' } },
  logLevel: 'warn',
});
