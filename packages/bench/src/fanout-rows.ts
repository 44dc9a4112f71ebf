/**
 * The servers a fan-out row can be measured on: Nchan, the bare Node floor (`bare-node.ts`), and
 * execstream's three surfaces.
 */
export const SERVERS = ['nchan', 'bare', 'sse', 'trpc', 'agui'] as const;
export type Server = (typeof SERVERS)[number];

/** The servers that are not execstream, in every row: each execstream figure is read beside them. */
export const REFERENCES: readonly Server[] = ['nchan', 'bare'];

export const SERVER_NAMES: Record<Server, string> = {
  nchan: 'Nchan',
  bare: 'bare Node',
  sse: 'raw SSE',
  trpc: 'tRPC',
  agui: 'AG-UI',
};

/** One row of `pnpm bench fanout`: a load, measured on each of `servers`. */
export interface FanOutRow {
  /** What `EXECSTREAM_BENCH_FANOUT` names it by. */
  key: string;
  label: string;
  executions: number;
  readersPerExecution: number;
  /** Events published to each execution. */
  rounds: number;
  /** Events per second published in total, across executions. */
  ratePerSecond: number;
  servers: Server[];
  /** Every reader drops once, `afterMs` into publishing, and comes back `offlineMs` later. */
  resume?: { afterMs: number; offlineMs: number };
  /** This row's RSS per open idle stream is the table's RSS row. */
  rss?: boolean;
}

/** `EXECSTREAM_BENCH_READERS=100` scales every reader and execution count to /1,000 of it. */
function scale(count: number): number {
  const readers = Number(process.env.EXECSTREAM_BENCH_READERS ?? 1_000);
  if (!Number.isInteger(readers) || readers < 1) {
    throw new Error(`EXECSTREAM_BENCH_READERS must be a positive integer, not ${readers}`);
  }
  return Math.max(1, Math.round((count * readers) / 1_000));
}

const thousands = (count: number) => count.toLocaleString('en-US');

/** One execution read by `readers`, events at `rate` per second for `seconds`. */
function oneExecution(
  key: string,
  label: string,
  readers: number,
  rate: number,
  seconds: number,
  servers: Server[],
): FanOutRow {
  const rounds = rate * seconds;
  return {
    key,
    label,
    executions: 1,
    readersPerExecution: readers,
    rounds,
    ratePerSecond: rate,
    servers,
  };
}

/** The rows of the targets, each measured beside Nchan and the bare Node floor. */
export function fanOutRows(): FanOutRow[] {
  const oneK = scale(1_000);
  const threeK = scale(3_000);
  const all: Server[] = ['nchan', 'bare', 'sse', 'trpc', 'agui'];
  const raw: Server[] = ['nchan', 'bare', 'sse', 'trpc'];
  const readers = (count: number) => `1 × ${thousands(count)} readers`;
  return [
    { ...oneExecution('1000@100', `${readers(oneK)}, 100 events/s`, oneK, 100, 2, all), rss: true },
    oneExecution('1000@75', `${readers(oneK)}, 75 events/s`, oneK, 75, 2, raw),
    oneExecution('1000@50', `${readers(oneK)}, 50 events/s (each event alone)`, oneK, 50, 2, all),
    oneExecution('3000@100', `${readers(threeK)}, 100 events/s`, threeK, 100, 2, raw),
    {
      ...oneExecution(
        'resume',
        `${readers(oneK)}, 100 events/s, all drop and resume after 1 s`,
        oneK,
        100,
        3,
        raw,
      ),
      resume: { afterMs: 1_000, offlineMs: 1_000 },
    },
    {
      key: '1000x1',
      label: `${thousands(oneK)} executions × 1 reader, 5 events each at ${thousands(oneK)}/s`,
      executions: oneK,
      readersPerExecution: 1,
      rounds: 5,
      ratePerSecond: oneK,
      servers: raw,
    },
  ];
}

/**
 * The rows and servers `EXECSTREAM_BENCH_FANOUT` selects: comma-separated row keys, each
 * optionally narrowed to servers with `:` (`1000@100:nchan+sse,resume`); every row when unset.
 * Nchan and the bare Node floor stay in every row they were narrowed out of, so each figure
 * keeps its ratios.
 */
export function selectedRows(): FanOutRow[] {
  const rows = fanOutRows();
  const selection = process.env.EXECSTREAM_BENCH_FANOUT?.trim();
  if (!selection) return rows;
  return selection.split(',').map((item) => {
    const [key, servers] = item.trim().split(':');
    const row = rows.find((candidate) => candidate.key === key);
    if (!row) {
      throw new Error(
        `EXECSTREAM_BENCH_FANOUT names no row ${key}; rows: ${rows.map((r) => r.key).join(', ')}`,
      );
    }
    if (!servers) return row;
    const wanted = servers.split('+');
    for (const server of wanted) {
      if (!(row.servers as string[]).includes(server)) {
        throw new Error(`row ${key} has no server ${server}; it has ${row.servers.join(', ')}`);
      }
    }
    return {
      ...row,
      servers: row.servers.filter(
        (server) => REFERENCES.includes(server) || wanted.includes(server),
      ),
    };
  });
}

/** `EXECSTREAM_BENCH_RUNS`: runs per cell, whose medians the table shows. @default 2 */
export function runsPerCell(): number {
  const runs = Number(process.env.EXECSTREAM_BENCH_RUNS ?? 2);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`EXECSTREAM_BENCH_RUNS must be a positive integer, not ${runs}`);
  }
  return runs;
}
