import { type CellRun, runCell } from './fanout-cell.ts';
import {
  type FanOutRow,
  runsPerCell,
  SERVER_NAMES,
  type Server,
  selectedRows,
} from './fanout-rows.ts';
import { type FanOutMedians, judgeTargets } from './fanout-targets.ts';
import { nchanVersion } from './nchan.ts';
import { formatNumber, type Measure, type SuiteResult } from './report.ts';

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Every figure of a cell as the median of its runs; violations as the worst run's. */
function summarise(runs: CellRun[]): CellRun {
  const pick = (key: keyof CellRun) => median(runs.map((run) => run[key] as number));
  const resume = runs[0]?.resumeReadsPerReader === null;
  const commandNames = new Set(
    runs.flatMap((run) => Object.keys(run.resumeCommandsPerReader ?? {})),
  );
  return {
    p50: pick('p50'),
    p99: pick('p99'),
    scheduleP99: pick('scheduleP99'),
    cpuPerThousand: pick('cpuPerThousand'),
    userPerThousand: pick('userPerThousand'),
    rssPerStream: pick('rssPerStream'),
    publishedPerSecond: pick('publishedPerSecond'),
    harnessCpuShare: pick('harnessCpuShare'),
    delivered: pick('delivered'),
    violations: Math.max(...runs.map((run) => run.violations)),
    resumeReadsPerReader: resume ? null : pick('resumeReadsPerReader'),
    resumeCommandsPerReader: resume
      ? null
      : Object.fromEntries(
          [...commandNames].map((name) => [
            name,
            median(runs.map((run) => run.resumeCommandsPerReader?.[name] ?? 0)),
          ]),
        ),
  };
}

const ratio = (value: number, base: number) => formatNumber(value / base);

/**
 * Per row, each execstream surface's CPU per 1,000 over the bare Node floor's: what execstream
 * adds to Node's own HTTP stack. Informational; the targets judge against Nchan.
 */
function overFloor(rows: FanOutRow[], medians: FanOutMedians): string[] {
  return rows.flatMap((row) => {
    const floor = medians[row.key]?.bare;
    if (!floor) return [];
    const surfaces = (['sse', 'trpc', 'agui'] as const).flatMap((server) => {
      const cell = medians[row.key]?.[server];
      return cell
        ? [`${SERVER_NAMES[server]} ${ratio(cell.cpuPerThousand, floor.cpuPerThousand)}×`]
        : [];
    });
    if (surfaces.length === 0) return [];
    return [
      `CPU per 1,000 ÷ bare Node (informational, no target), ${row.label}: ${surfaces.join(', ')}.`,
    ];
  });
}

function cellText(row: FanOutRow, cell: CellRun): string {
  const parts = [
    `${formatNumber(cell.p50)} / ${formatNumber(cell.p99)}`,
    `${formatNumber(cell.cpuPerThousand)} (${formatNumber(cell.userPerThousand)})`,
  ];
  if (cell.resumeReadsPerReader !== null) {
    parts.push(`${formatNumber(cell.resumeReadsPerReader)} reads/reader`);
  }
  // Open loop: a publisher that fell short of the rate was kept waiting by the server.
  if (cell.publishedPerSecond < row.ratePerSecond * 0.95) {
    parts.push(
      `published ${formatNumber(cell.publishedPerSecond)}/s, p99 ${formatNumber(cell.scheduleP99)} from schedule`,
    );
  }
  if (cell.violations > 0) parts.push(`**${formatNumber(cell.violations)} readers wrong**`);
  return parts.join(' · ');
}

/** How to run exactly this selection again. */
function reproduceCommand(): string {
  const settings = ['EXECSTREAM_BENCH_FANOUT', 'EXECSTREAM_BENCH_READERS', 'EXECSTREAM_BENCH_RUNS']
    .filter((name) => process.env[name])
    .map((name) => `${name}=${process.env[name]}`);
  return [...settings, 'pnpm bench fanout'].join(' ');
}

/**
 * `pnpm bench fanout`: execstream's surfaces, Nchan (one nginx worker, Redis storage) and the
 * bare Node floor under the same loads, in one sitting, through one neutral harness; every cell
 * shows its ratio to Nchan, and each execstream CPU figure its ratio to the floor in the notes. Rows, scale and runs are chosen in the environment (`fanout-rows.ts`).
 */
export async function runFanOutSuite(): Promise<SuiteResult> {
  const rows = selectedRows();
  const runs = runsPerCell();
  const cells = new Map<string, Partial<Record<Server, CellRun[]>>>();
  for (const row of rows) {
    const byServer: Partial<Record<Server, CellRun[]>> = {};
    cells.set(row.key, byServer);
    // Servers alternate within each run, so a machine that drifts weighs on all of them.
    for (let run = 1; run <= runs; run++) {
      for (const server of row.servers) {
        const started = performance.now();
        const result = await runCell(row, server);
        byServer[server] = [...(byServer[server] ?? []), result];
        console.log(
          `  ${row.key} ${server} run ${run}/${runs}: p50 ${formatNumber(result.p50)} ms, p99 ${formatNumber(result.p99)} ms, CPU ${formatNumber(result.cpuPerThousand)} ms/1k, ${result.violations} wrong, readers used ${formatNumber(result.harnessCpuShare)} of a core (${Math.round((performance.now() - started) / 1000)} s)`,
        );
      }
    }
  }

  const execstream = (['sse', 'trpc', 'agui'] as const).filter((server) =>
    rows.some((row) => row.servers.includes(server)),
  );
  // Nchan is the base of every ratio; the bare Node floor is compared with it like the rest.
  const compared = [
    ...(rows.some((row) => row.servers.includes('bare')) ? (['bare'] as const) : []),
    ...execstream,
  ];
  const columns = [
    'Nchan',
    ...compared.flatMap((server) => [SERVER_NAMES[server], `${SERVER_NAMES[server]} ÷ Nchan`]),
  ];
  const measures: Measure[] = [];
  const medians: FanOutMedians = {};
  for (const row of rows) {
    const summary: Partial<Record<Server, CellRun>> = {};
    for (const [server, results] of Object.entries(cells.get(row.key) ?? {})) {
      summary[server as Server] = summarise(results);
    }
    medians[row.key] = summary;
    const nchan = summary.nchan as CellRun;
    const values: Measure['values'] = { Nchan: cellText(row, nchan) };
    for (const server of compared) {
      const cell = summary[server];
      values[SERVER_NAMES[server]] = cell ? cellText(row, cell) : null;
      values[`${SERVER_NAMES[server]} ÷ Nchan`] = cell
        ? `CPU ${ratio(cell.cpuPerThousand, nchan.cpuPerThousand)} · p99 ${ratio(cell.p99, nchan.p99)}`
        : null;
    }
    measures.push({ label: row.label, unit: '', values });
  }
  for (const row of rows.filter((candidate) => candidate.rss)) {
    const summary = medians[row.key] ?? {};
    const nchan = summary.nchan as CellRun;
    const values: Measure['values'] = { Nchan: formatNumber(nchan.rssPerStream) };
    for (const server of compared) {
      const cell = summary[server];
      values[SERVER_NAMES[server]] = cell ? formatNumber(cell.rssPerStream) : null;
      values[`${SERVER_NAMES[server]} ÷ Nchan`] = cell
        ? ratio(cell.rssPerStream, nchan.rssPerStream)
        : null;
    }
    measures.push({ label: `RSS per open idle stream, ${row.label}`, unit: 'KiB', values });
  }

  const resumeNotes = rows
    .filter((row) => row.resume)
    .flatMap((row) =>
      Object.entries(medians[row.key] ?? {}).map(([server, cell]) => {
        const commands = Object.entries(cell.resumeCommandsPerReader ?? {})
          .sort(([, a], [, b]) => b - a)
          .map(([name, calls]) => `${name} ${formatNumber(calls)}`)
          .join(', ');
        return `Redis commands per resuming reader beyond publishing, ${SERVER_NAMES[server as Server]}: ${commands || 'none'}.`;
      }),
    );

  return {
    suite: 'fanout',
    title: 'Fan-out beside Nchan',
    rowHeader: 'scenario',
    command: reproduceCommand(),
    columns,
    measures,
    notes: [
      ...judgeTargets(medians).map((line) => `Target of issue 15: ${line}.`),
      ...overFloor(rows, medians),
      'Each cell: append-to-receive p50 / p99 in ms · server CPU (user + system) per 1,000 events delivered in ms, user alone in brackets; the resume row adds the Redis reads per reader the resume caused; "published n/s" when the publisher fell short of the rate (a server that answers a publish late holds the next one back), with the p99 from when each event was due; "readers wrong" when any reader missed, repeated or reordered an event (every cell without it had every event once, in order, for every reader). Ratio cells: CPU and p99 divided by Nchan’s in the same row (bare Node’s too).',
      `Nchan ${nchanVersion()} runs as nginx with one worker (\`worker_processes 1\`) from a generated config, storing on Redis (\`nchan_redis_pass\`), readers on its EventSource subscriber; bare Node is the floor, what Node’s own HTTP stack costs for the job: a broadcaster on \`node:http\` alone (one process, through tsx) that builds each event once as one Buffer (\`id: <n>\\ndata: <body>\\n\\n\`) and hands it to every open response of the channel with \`res.write\` (chunked), no store, no auth, no backpressure handling, taking Nchan’s publish and body; it answers \`Last-Event-ID\` from the last 1,000 frames of each channel kept in memory, the least that makes the resume row mean something; execstream runs as deployed (its production build, \`node dist/main.mjs\`; \`EXECSTREAM_BENCH_SERVER=source\` runs the source through tsx), one process on Redis (\`REDIS_URL\`). Each run of each cell starts its own \`redis-server\`, server and publisher, fresh; servers alternate within each run; medians of ${runs} runs (violations: the worst run).`,
      'The publisher is a process of its own, open loop: each event is due at its time whatever the server does; one execution’s events go one after another. Events are progress events carrying their round and the moment they were sent; Nchan and bare Node get a body shaped and sized like the same envelope.',
      'Readers are raw sockets in the benchmark process: a plain HTTP/1.1 GET, chunked encoding undone, frames split on blank lines, the round and send time found in each frame’s text (AG-UI: its `CUSTOM` progress frame); latency is from the send to a reader taking the event off the wire. Every reader takes a warm-up event before anything is measured.',
      'CPU: the server’s whole process tree (nginx’s master and worker) from /proc, from the first publish until every reader has every event. RSS: growth of the tree’s resident set while the streams opened and took their warm-up, per stream.',
      'Resume: 1 s into publishing every reader drops its connection, and 1 s later reconnects with `Last-Event-ID`, all at once. Reads per reader: `INFO commandstats` read commands (a Lua script’s calls included) over the run, less what publishing costs (calibrated on 20 events first), per reader.',
      ...resumeNotes,
      `The readers’ process used at most ${formatNumber(Math.max(...Object.values(medians).flatMap((summary) => Object.values(summary).map((cell) => cell.harnessCpuShare))))} of a core in any cell (each cell’s share is in the JSON results): near 1, its own queueing adds to every column’s latency alike.`,
      'Readers, publisher, both Redis clients and the server share the machine’s cores; compare ratios within one run, not figures across machines.',
    ],
    data: {
      rows: rows.map(({ key, label, executions, readersPerExecution, rounds, ratePerSecond }) => ({
        key,
        label,
        executions,
        readersPerExecution,
        rounds,
        ratePerSecond,
      })),
      medians,
      runs: Object.fromEntries(cells),
    },
  };
}
