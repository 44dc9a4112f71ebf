import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'redis-testing', testTimeout: 60_000, hookTimeout: 60_000 },
});
