/** What `pnpm start` prints for a person: where it runs, a key, and a command that shows a run. */
export function startBanner(options: {
  url: string;
  store: 'memory' | 'redis';
  devKey: { key: string; ownerId: string } | null;
  demo: boolean;
  /** The origin browsers sign in to, and the other origins CORS allows. */
  publicUrl: string;
  corsOrigins: readonly string[];
  /** Whether the web app's build is served at `/`. */
  webApp: boolean;
  /** Server processes on the port (`EXECSTREAM_WORKERS`). @default 1 */
  workers?: number;
}): string {
  const { url, devKey } = options;
  const lines = [
    '',
    `execstream is listening on ${url}`,
    `  store: ${options.store === 'redis' ? 'Redis (REDIS_URL)' : 'embedded, in memory (set REDIS_URL for Redis)'}`,
    ...(options.workers && options.workers > 1
      ? [`  workers: ${options.workers} processes on this port (EXECSTREAM_WORKERS)`]
      : []),
    `  demo executor: ${options.demo ? 'on' : 'off'}`,
    options.webApp
      ? `  web app: ${url}/${options.demo ? ' (sign in with a demo wallet)' : ''}`
      : '  web app: not built (pnpm start builds it)',
    `  wallet sign-in (SIWE) for ${options.publicUrl}; browser origins allowed (EXECSTREAM_CORS_ORIGINS): ${options.corsOrigins.length > 0 ? options.corsOrigins.join(', ') : 'none'}`,
  ];
  if (devKey) {
    const header = `-H 'X-API-KEY: ${devKey.key}'`;
    lines.push(
      `  dev API key (owner "${devKey.ownerId}", ${options.store === 'redis' ? 'kept in Redis, the same after a restart' : 'valid until this process stops'}): ${devKey.key}`,
      '',
      'Submit a swap and follow it live:',
      '',
      `  OP=$(curl -s ${header} -H 'Content-Type: application/json' -d '{"type":"swap"}' ${url}/v1/trpc/v2.executions.submit | grep -o 'op_[A-Za-z0-9_-]*') && curl -sN ${header} ${url}/v1/executions/$OP/stream`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
