import type { CellRun } from './fanout-cell.ts';
import { REFERENCES, SERVER_NAMES, type Server } from './fanout-rows.ts';
import { formatNumber } from './report.ts';

/** The medians of a run: row key → server → cell. */
export type FanOutMedians = Record<string, Partial<Record<Server, CellRun>>>;

interface Target {
  /** What is promised, e.g. `raw SSE CPU per 1,000 at 1 × 1,000, 100 events/s ≤ 1.0× Nchan`. */
  label: string;
  /** The measured figure as shown, and whether it keeps the promise. */
  check: (medians: FanOutMedians) => { shown: string; holds: boolean } | null;
}

/** The commands that read an execution's events from a Redis stream. */
const STREAM_READS = ['xrange', 'xrevrange', 'xread', 'xreadgroup'];

const times = (value: number) => `${formatNumber(value)}×`;

/** A ratio of two cells' figures against a bound; null when either cell was not run. */
function ratioTarget(
  label: string,
  row: string,
  server: Server,
  base: Server,
  figure: 'cpuPerThousand' | 'p99',
  bound: number,
): Target {
  return {
    label: `${label} ≤ ${bound}× ${SERVER_NAMES[base]}`,
    check: (medians) => {
      const cell = medians[row]?.[server];
      const against = medians[row]?.[base];
      if (!cell || !against) return null;
      const value = cell[figure] / against[figure];
      return { shown: times(value), holds: value <= bound };
    },
  };
}

function cpuTargets(row: string, where: string): Target[] {
  return [
    ratioTarget(`raw SSE CPU per 1,000, ${where},`, row, 'sse', 'nchan', 'cpuPerThousand', 1),
    ratioTarget(`tRPC CPU per 1,000, ${where},`, row, 'trpc', 'nchan', 'cpuPerThousand', 1),
    ratioTarget(`tRPC CPU per 1,000, ${where},`, row, 'trpc', 'sse', 'cpuPerThousand', 1.1),
    ratioTarget(`AG-UI CPU per 1,000, ${where},`, row, 'agui', 'sse', 'cpuPerThousand', 1.5),
  ];
}

/** Issue 15's targets, each judged on a run's medians. */
const TARGETS: Target[] = [
  ...cpuTargets('1000@100', '1 × 1,000 at 100 events/s'),
  ...cpuTargets('1000@50', '1 × 1,000 at 50 events/s'),
  ...(['sse', 'trpc'] as const).map(
    (server): Target => ({
      label: `${SERVER_NAMES[server]} p99 at 1 × 1,000, 75 events/s, < 100 ms`,
      check: (medians) => {
        const cell = medians['1000@75']?.[server];
        return cell ? { shown: `${formatNumber(cell.p99)} ms`, holds: cell.p99 < 100 } : null;
      },
    }),
  ),
  ...(['sse', 'trpc'] as const).flatMap((server) => [
    ratioTarget(`${SERVER_NAMES[server]} p99 at 1 × 3,000`, '3000@100', server, 'nchan', 'p99', 2),
    ratioTarget(
      `${SERVER_NAMES[server]} resume CPU`,
      'resume',
      server,
      'nchan',
      'cpuPerThousand',
      1.5,
    ),
    ratioTarget(`${SERVER_NAMES[server]} resume p99`, 'resume', server, 'nchan', 'p99', 1.5),
    {
      label: `${SERVER_NAMES[server]} resume inside the tail: no stream read (XRANGE, XREAD) per reader`,
      check: (medians: FanOutMedians) => {
        const commands = medians.resume?.[server]?.resumeCommandsPerReader;
        if (!commands) return null;
        const reads = STREAM_READS.reduce((sum, name) => sum + (commands[name] ?? 0), 0);
        // Below one read per 20 readers: what remains is not a read per reader.
        return { shown: `${formatNumber(reads)} per reader`, holds: reads < 0.05 };
      },
    },
    ratioTarget(
      `${SERVER_NAMES[server]} CPU at 1,000 × 1`,
      '1000x1',
      server,
      'nchan',
      'cpuPerThousand',
      1,
    ),
  ]),
  ...(['sse', 'trpc', 'agui'] as const).map(
    (server): Target => ({
      label: `${SERVER_NAMES[server]} RSS per open idle stream ≤ 12 KiB`,
      check: (medians) => {
        const cell = medians['1000@100']?.[server];
        return cell
          ? { shown: `${formatNumber(cell.rssPerStream)} KiB`, holds: cell.rssPerStream <= 12 }
          : null;
      },
    }),
  ),
  {
    label: 'every event once, in order, for every execstream reader in every row',
    check: (medians) => {
      const cells = Object.values(medians).flatMap((row) =>
        Object.entries(row)
          .filter(([server]) => !REFERENCES.includes(server as Server))
          .map(([, cell]) => cell),
      );
      const wrong = cells.reduce((sum, cell) => sum + cell.violations, 0);
      return { shown: `${formatNumber(wrong)} readers wrong`, holds: wrong === 0 };
    },
  },
];

/** One line per target the run measured: whether it holds, and the figure. */
export function judgeTargets(medians: FanOutMedians): string[] {
  return TARGETS.flatMap((target) => {
    const result = target.check(medians);
    if (!result) return [];
    return [`${target.label}: ${result.shown}, ${result.holds ? 'holds' : '**misses**'}`];
  });
}
