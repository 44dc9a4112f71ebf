import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ServerConfig } from './config.ts';
import type { Logger } from './logger.ts';

/**
 * `EXECSTREAM_WORKERS=N`: N server processes on one port, with `node:cluster`. The primary
 * forks the workers and replaces any that dies; it serves nothing itself and opens no store.
 * Each worker is a whole server on the shared Redis (its own connections, live hub, tails and
 * spools), so what must hold across processes already does, as it does across instances:
 * stream slots, rate limits, claims and leases are counted in Redis. Connections are handed
 * to the workers in turn by the primary (Node's round-robin), which spreads long-lived streams
 * evenly where the kernel's own choice would not.
 */

/** What the start banner needs from a worker once it listens. */
export interface WorkerStarted {
  url: string;
  publicUrl: string;
  devKey: { key: string; ownerId: string } | null;
  webApp: boolean;
}

type FromWorker =
  | { type: 'execstream:listening'; started: WorkerStarted }
  | { type: 'execstream:metrics-request'; id: number };
type FromPrimary = { type: 'execstream:metrics'; id: number; text?: string; error?: string };

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return (
    typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type
  );
}

/** The primary's side: its workers, and how they end. */
export interface ClusterPrimary {
  /** The first worker's answer, once every worker listens. */
  readonly started: WorkerStarted;
  /**
   * Stops every worker (SIGTERM: each ends its streams cleanly, as a single server does) and
   * resolves with the exit code the primary should end with: 0 when every worker stopped cleanly.
   */
  close(): Promise<number>;
}

/**
 * Forks `config.workers` workers of this same entry point and waits until all of them listen.
 * A worker that dies afterwards is logged and replaced; one that dies before it listens (a port
 * taken, Redis unreachable) stops the others and rejects: it would only die again.
 */
export function startPrimary(config: ServerConfig, logger: Logger): Promise<ClusterPrimary> {
  // Answers prom-client's worker-side requests: `/metrics` on any worker sums every worker.
  const aggregator = new AggregatorRegistry();
  const listening = new Set<Worker>();
  let stopping = false;
  let failed = false;
  let started: WorkerStarted | null = null;
  let stopped: Promise<number> | null = null;

  const stopAll = (): Promise<number> => {
    stopping = true;
    stopped ??= (async () => {
      const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
      const codes = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<number | string>((resolve) => {
              if (worker.process.exitCode !== null) return resolve(worker.process.exitCode);
              worker.once('exit', (code, signal) => resolve(signal ?? code));
              worker.process.kill('SIGTERM');
            }),
        ),
      );
      return !failed && codes.every((code) => code === 0) ? 0 : 1;
    })();
    return stopped;
  };

  return new Promise<ClusterPrimary>((resolve, reject) => {
    const fork = () => {
      const worker = cluster.fork();
      worker.on('message', (message: unknown) => {
        if (isMessage<FromWorker>(message, 'execstream:listening')) {
          listening.add(worker);
          started ??= (message as Extract<FromWorker, { type: 'execstream:listening' }>).started;
          if (listening.size === config.workers && !stopping) {
            logger.info({ workers: config.workers, url: started.url }, 'cluster listening');
            resolve({ started, close: stopAll });
          }
        } else if (isMessage<FromWorker>(message, 'execstream:metrics-request')) {
          const { id } = message as Extract<FromWorker, { type: 'execstream:metrics-request' }>;
          const reply = (answer: Omit<FromPrimary, 'type' | 'id'>) => {
            if (worker.isConnected()) worker.send({ type: 'execstream:metrics', id, ...answer });
          };
          aggregator.clusterMetrics().then(
            (text) => reply({ text }),
            (error: unknown) => reply({ error: (error as Error).message }),
          );
        }
      });
    };
    cluster.on('exit', (worker, code, signal) => {
      const wasListening = listening.delete(worker);
      if (stopping) {
        logger.info({ worker: worker.id, code, signal }, 'worker stopped');
        return;
      }
      if (!wasListening) {
        // It never listened: whatever stopped it stops the next one too.
        failed = true;
        logger.error({ worker: worker.id, code, signal }, 'worker exited before listening');
        void stopAll().then(() =>
          reject(new Error(`a worker exited (${signal ?? code}) before it listened`)),
        );
        return;
      }
      logger.error({ worker: worker.id, code, signal }, 'worker died: starting another');
      fork();
    });
    for (let index = 0; index < config.workers; index++) fork();
  });
}

/** A worker's side: it tells the primary it listens, and answers `/metrics` for the cluster. */
export interface ClusterWorker {
  /** The worker's number in its cluster, for its logs. */
  readonly id: number;
  listening(started: WorkerStarted): void;
  /** For `ServerMetrics`: this worker's registry joins the cluster's, and `/metrics` sums all. */
  metrics(own: Registry): () => Promise<string>;
}

// A scrape waits this long for the primary (which waits 5 s for each worker) before failing.
const METRICS_TIMEOUT_MS = 10_000;

/** The worker's side, in a process `startPrimary` forked; `null` in a process of its own. */
export function clusterWorker(): ClusterWorker | null {
  const self = cluster.worker;
  if (!cluster.isWorker || !self) return null;
  return {
    id: self.id,
    listening(started) {
      process.send?.({ type: 'execstream:listening', started } satisfies FromWorker);
    },
    metrics(own) {
      AggregatorRegistry.setRegistries([own]);
      // Constructing one installs prom-client's listener that answers the primary's requests.
      new AggregatorRegistry();
      const pending = new Map<number, (answer: FromPrimary) => void>();
      let next = 0;
      process.on('message', (message: unknown) => {
        if (!isMessage<FromPrimary>(message, 'execstream:metrics')) return;
        pending.get((message as FromPrimary).id)?.(message as FromPrimary);
      });
      return () =>
        new Promise<string>((resolve, reject) => {
          const id = next++;
          const timer = setTimeout(
            () => settle({ type: 'execstream:metrics', id }),
            METRICS_TIMEOUT_MS,
          );
          function settle(answer: FromPrimary) {
            clearTimeout(timer);
            pending.delete(id);
            if (answer.text !== undefined) resolve(answer.text);
            else
              reject(new Error(`cluster metrics: ${answer.error ?? 'the primary did not answer'}`));
          }
          pending.set(id, settle);
          process.send?.({ type: 'execstream:metrics-request', id } satisfies FromWorker);
        });
    },
  };
}
