import type { DeliveryObserver, Surface } from '@execstream/delivery';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The server's Prometheus metrics, on a registry of its own (two servers in one process, as in
 * tests, must not share counters). Default process metrics give CPU seconds and memory.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #active: Gauge<'surface'>;
  readonly #delivered: Counter<'surface'>;
  readonly #replays: Counter<'surface'>;
  readonly #resyncs: Counter<'surface'>;
  readonly #slow: Counter<'surface'>;
  readonly #lag: Histogram<'surface'>;
  readonly #backlog: Gauge<'surface'>;
  readonly #spooled: Counter<'surface'>;
  readonly #movedAside: Counter<'surface'>;
  /** What `/metrics` answers: this registry's exposition, or the whole cluster's in a worker. */
  readonly exposition: () => Promise<string>;

  constructor(
    extra: {
      demoRuns?: () => number;
      connections?: () => Promise<number>;
      /**
       * Where `/metrics` gets its text, given this registry: a worker of `EXECSTREAM_WORKERS`
       * answers for every worker of its cluster, whichever of them the scrape reached.
       * @default this registry alone
       */
      exposition?: (own: Registry) => () => Promise<string>;
    } = {},
  ) {
    this.exposition = extra.exposition?.(this.registry) ?? (() => this.registry.metrics());
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const perSurface = { labelNames: ['surface'] as const, registers };
    this.#active = new Gauge({
      name: 'execstream_streams_active',
      help: 'Open event streams',
      ...perSurface,
    });
    const counter = (name: string, help: string) => new Counter({ name, help, ...perSurface });
    this.#delivered = counter('execstream_events_delivered_total', 'Events handed to clients');
    this.#replays = counter(
      'execstream_stream_replays_total',
      'Streams resumed from a cursor that is an event of the stream',
    );
    this.#resyncs = counter(
      'execstream_stream_resyncs_total',
      'Snapshots sent in place of events a cursor asked for',
    );
    this.#slow = counter(
      'execstream_slow_consumer_disconnects_total',
      'Readers disconnected for falling behind by more than the backlog bound',
    );
    this.#spooled = counter(
      'execstream_stream_spool_joins_total',
      'Readers at the live edge that joined their execution’s spool, which writes each live batch once for all of them',
    );
    this.#movedAside = counter(
      'execstream_stream_moved_aside_total',
      'Spool readers whose socket was full, moved aside to catch up by themselves',
    );
    this.#lag = new Histogram({
      name: 'execstream_delivery_lag_seconds',
      help: 'Time from an event being appended to it being handed to a live client',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ...perSurface,
    });
    this.#backlog = new Gauge({
      name: 'execstream_stream_backlog_bytes',
      help: 'Bytes of events read for open streams and not yet handed to their sockets',
      ...perSurface,
    });
    for (const surface of ['sse', 'trpc', 'ag-ui'] satisfies Surface[]) {
      // Zero-valued series from the start, so dashboards and rate() see every surface.
      this.#active.set({ surface }, 0);
      this.#backlog.set({ surface }, 0);
      for (const counter of [
        this.#delivered,
        this.#replays,
        this.#resyncs,
        this.#slow,
        this.#spooled,
        this.#movedAside,
      ]) {
        counter.inc({ surface }, 0);
      }
    }
    const { demoRuns, connections } = extra;
    if (connections) {
      // Streams hold their connections; one that outlives its stream (a reader that stopped
      // reading) shows here, not in the stream gauges.
      new Gauge({
        name: 'execstream_http_connections_open',
        help: 'TCP connections open to this HTTP server',
        registers,
        async collect() {
          this.set(await connections());
        },
      });
    }
    if (demoRuns) {
      new Gauge({
        name: 'execstream_demo_runs_active',
        help: 'Runs the demo executor of this process is carrying',
        registers,
        collect() {
          this.set(demoRuns());
        },
      });
    }
  }

  readonly observer: DeliveryObserver = {
    opened: (surface) => this.#active.inc({ surface }),
    closed: (surface) => this.#active.dec({ surface }),
    delivered: (surface, count, liveLagMs) => {
      this.#delivered.inc({ surface }, count);
      if (liveLagMs !== null) this.#lag.observe({ surface }, liveLagMs / 1000);
    },
    replayed: (surface) => this.#replays.inc({ surface }),
    resynced: (surface) => this.#resyncs.inc({ surface }),
    slowConsumer: (surface) => this.#slow.inc({ surface }),
    spooled: (surface) => this.#spooled.inc({ surface }),
    movedAside: (surface) => this.#movedAside.inc({ surface }),
    backlog: (surface, deltaBytes) => this.#backlog.inc({ surface }, deltaBytes),
  };
}
