import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `vite build` writes the app the server serves at `/`; `vite` (dev) proxies the API to a
// server started with `pnpm start`, so the page's calls stay same-origin either way.
export default defineConfig({
  plugins: [react()],
  // zod and viem make most of the bundle; one chunk loads fastest from the server itself.
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    // A report of where the build's time went, which a loaded machine prints: not a problem,
    // and `pnpm build` prints no warnings (apps/server/test/fresh-clone.test.ts).
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: { proxy: { '/v1': process.env.EXECSTREAM_API_URL ?? 'http://127.0.0.1:3000' } },
});
