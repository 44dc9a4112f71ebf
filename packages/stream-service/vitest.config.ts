import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'stream-service', testTimeout: 60_000 },
});
