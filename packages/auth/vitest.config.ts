import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'auth', testTimeout: 30_000 },
});
