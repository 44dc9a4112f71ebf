import { startRedisServer } from '@execstream/redis-testing';
import { type Measure, percentile, type SuiteResult } from './report.ts';
import { BENCH_OWNER, spawnBenchServer } from './server.ts';

/** The producer key of the benchmark's server. */
const PRODUCER_KEY = 'bench-producer-key-00000001';
const WORKER_COUNTS = [1, 16] as const;
const BATCH_SIZES = [1, 10] as const;
/** Appends each scenario makes in all, split between its workers. */
const APPENDS = 4_000;
const WARM_UP_APPENDS = 200;
const STORES = ['embedded', 'redis'] as const;
type Store = (typeof STORES)[number];

interface Scenario {
  workers: number;
  batch: number;
  eventsPerSecond: number;
  appendsPerSecond: number;
  /** Milliseconds per append, sorted ascending. */
  latencies: number[];
}

async function call(baseUrl: string, method: string, path: string, body: unknown, headers = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'x-api-key': PRODUCER_KEY, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

/**
 * One worker as docs/producers.md describes it: creates an execution and claims one (each
 * worker of a scenario gets its own), starts it, then appends `appends` batches of `batch`
 * progress events one after the other, each fenced by its lease and with its own
 * Idempotency-Key. Resolves once ready with the timed part, which resolves with each append's
 * latency (ms).
 */
async function worker(baseUrl: string, id: string, appends: number, batch: number) {
  await call(baseUrl, 'POST', '/v1/producer/executions', {
    operationId: `op_bench_${id}`,
    ownerId: BENCH_OWNER,
    type: 'swap',
  });
  const claim = await call(baseUrl, 'POST', '/v1/producer/claims', { leaseMs: 600_000 });
  const { operationId } = claim;
  const leaseToken = claim.lease.token;
  let step = 0;
  const append = (events: unknown[]) =>
    call(
      baseUrl,
      'POST',
      `/v1/producer/executions/${operationId}/events`,
      { events, leaseToken },
      { 'idempotency-key': `${id}-${step++}` },
    );
  await append([{ kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } }]);
  return async () => {
    const latencies: number[] = [];
    for (let index = 0; index < appends; index++) {
      const started = performance.now();
      await append(
        Array.from({ length: batch }, (_, event) => ({
          kind: 'execution.progress',
          payload: { percent: (index * batch + event) % 101 },
        })),
      );
      latencies.push(performance.now() - started);
    }
    return latencies;
  };
}

async function runScenario(baseUrl: string, workers: number, batch: number, label: string) {
  const each = Math.ceil(APPENDS / workers);
  // Warm-up: the server's code paths and the store's scripts, outside the timing.
  const warm = await worker(baseUrl, `${label}-warm-${workers}-${batch}`, WARM_UP_APPENDS, batch);
  await warm();
  const ready: (() => Promise<number[]>)[] = [];
  for (let index = 0; index < workers; index++) {
    ready.push(await worker(baseUrl, `${label}-${workers}-${batch}-${index}`, each, batch));
  }
  const started = performance.now();
  const results = await Promise.all(ready.map((go) => go()));
  const seconds = (performance.now() - started) / 1000;
  const appendsDone = each * workers;
  return {
    workers,
    batch,
    eventsPerSecond: (appendsDone * batch) / seconds,
    appendsPerSecond: appendsDone / seconds,
    latencies: results.flat().sort((a, b) => a - b),
  } satisfies Scenario;
}

async function measureStore(store: Store): Promise<Scenario[]> {
  const redis = await startRedisServer();
  const { url, child } = await spawnBenchServer(store === 'redis' ? redis.url : '', {
    EXECSTREAM_PRODUCER_KEYS: `${PRODUCER_KEY}:bench-workers`,
    // The benchmark measures appends, not the per-key rate limit.
    EXECSTREAM_PRODUCER_APPENDS_PER_SECOND: '1000000',
  });
  try {
    const scenarios: Scenario[] = [];
    for (const batch of BATCH_SIZES) {
      for (const workers of WORKER_COUNTS) {
        scenarios.push(await runScenario(url, workers, batch, store));
      }
    }
    return scenarios;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await redis.stop();
  }
}

/** `pnpm bench producer`: the HTTP producer API's appends, one worker and 16 at once. */
export async function runProducerSuite(): Promise<SuiteResult> {
  const results = {} as Record<Store, Scenario[]>;
  for (const store of STORES) results[store] = await measureStore(store);
  const measures: Measure[] = [];
  for (const batch of BATCH_SIZES) {
    for (const workers of WORKER_COUNTS) {
      const pick = (store: Store) =>
        results[store].find((s) => s.workers === workers && s.batch === batch) as Scenario;
      const name = `${workers} worker${workers === 1 ? '' : 's'}, ${batch} event${batch === 1 ? '' : 's'} per append`;
      const row = (label: string, unit: string, value: (scenario: Scenario) => number) =>
        measures.push({
          label: `${name}, ${label}`,
          unit,
          values: Object.fromEntries(STORES.map((store) => [store, value(pick(store))])),
        });
      row('appended', 'events/s', (scenario) => scenario.eventsPerSecond);
      row('append p50', 'ms', (scenario) => percentile(scenario.latencies, 50));
      row('append p99', 'ms', (scenario) => percentile(scenario.latencies, 99));
    }
  }
  return {
    suite: 'producer',
    title: 'Producer API over HTTP',
    columns: [...STORES],
    measures,
    notes: [
      'The server runs as deployed (its production build, `node dist/main.mjs`), in its own Node.js process, on the embedded store or on a local `redis-server` started by the benchmark; the workers are HTTP clients (`fetch`, keep-alive) in the benchmark process, over loopback.',
      `Each worker creates its own execution, claims it, starts it, then appends ${APPENDS.toLocaleString('en-US')} ÷ workers batches of progress events one after the other, each with \`leaseToken\`, an \`Idempotency-Key\` and the shared schemas' validation: \`POST /v1/producer/executions/:id/events\` as docs/producers.md describes it.`,
      'events/s: events appended by all workers together over the timed part (after a warm-up of 200 appends); latency: one append, request to answer.',
      'The per-key rate limit is raised out of the way (`EXECSTREAM_PRODUCER_APPENDS_PER_SECOND=1000000`); by default a producer key may make 200 appends per second.',
      'Workers, server and Redis share the machine (2 cores).',
    ],
  };
}
