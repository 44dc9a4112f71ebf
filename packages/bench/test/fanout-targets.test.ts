import { describe, expect, it } from 'vitest';
import type { CellRun } from '../src/fanout-cell.ts';
import { judgeTargets } from '../src/fanout-targets.ts';

function cell(figures: Partial<CellRun>): CellRun {
  return {
    p50: 1,
    p99: 10,
    scheduleP99: 10,
    cpuPerThousand: 10,
    userPerThousand: 5,
    rssPerStream: 10,
    publishedPerSecond: 100,
    harnessCpuShare: 0.1,
    delivered: 1000,
    violations: 0,
    resumeReadsPerReader: null,
    resumeCommandsPerReader: null,
    ...figures,
  };
}

describe('fan-out targets', () => {
  it('judges the rows a run measured, and only those', () => {
    const lines = judgeTargets({
      '1000@100': {
        nchan: cell({ cpuPerThousand: 8 }),
        sse: cell({ cpuPerThousand: 8 }),
        trpc: cell({ cpuPerThousand: 12, rssPerStream: 12.5 }),
      },
      resume: {
        nchan: cell({}),
        sse: cell({ resumeCommandsPerReader: { xrange: 1, hmget: 1 } }),
      },
    });
    expect(lines).toContain(
      'raw SSE CPU per 1,000, 1 × 1,000 at 100 events/s, ≤ 1× Nchan: 1×, holds',
    );
    expect(lines).toContain(
      'tRPC CPU per 1,000, 1 × 1,000 at 100 events/s, ≤ 1.1× raw SSE: 1.50×, **misses**',
    );
    expect(lines).toContain('tRPC RSS per open idle stream ≤ 12 KiB: 12.5 KiB, **misses**');
    expect(lines).toContain(
      'raw SSE resume inside the tail: no stream read (XRANGE, XREAD) per reader: 1 per reader, **misses**',
    );
    expect(lines.some((line) => line.includes('50 events/s'))).toBe(false);
    expect(lines.at(-1)).toBe(
      'every event once, in order, for every execstream reader in every row: 0 readers wrong, holds',
    );
  });

  it('counts wrong readers of execstream, not of Nchan or the bare Node floor', () => {
    const lines = judgeTargets({
      '1000@75': {
        nchan: cell({ violations: 3 }),
        bare: cell({ violations: 4 }),
        sse: cell({ violations: 2, p99: 120 }),
      },
    });
    expect(lines).toEqual([
      'raw SSE p99 at 1 × 1,000, 75 events/s, < 100 ms: 120 ms, **misses**',
      'every event once, in order, for every execstream reader in every row: 2 readers wrong, **misses**',
    ]);
  });
});
