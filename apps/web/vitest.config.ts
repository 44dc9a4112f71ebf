import { defineConfig } from 'vitest/config';

// The page's pure logic; the app in a real browser is tested from apps/server (web-app.test.ts).
export default defineConfig({
  test: { name: 'web', include: ['test/**/*.test.ts'] },
});
