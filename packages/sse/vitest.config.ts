import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'sse', testTimeout: 30_000 },
});
