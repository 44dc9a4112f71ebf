import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'trpc', testTimeout: 30_000 },
});
