import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'ag-ui', testTimeout: 30_000 },
});
