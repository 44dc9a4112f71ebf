import { afterEach, describe, expect, it, vi } from 'vitest';
import { median } from '../src/fanout.ts';
import { fanOutRows, runsPerCell, selectedRows } from '../src/fanout-rows.ts';

describe('fan-out benchmark selection', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('runs every row beside Nchan by default, twice', () => {
    const rows = selectedRows();
    expect(rows.map((row) => row.key)).toEqual([
      '1000@100',
      '1000@75',
      '1000@50',
      '3000@100',
      'resume',
      '1000x1',
    ]);
    expect(rows.every((row) => row.servers[0] === 'nchan' && row.servers[1] === 'bare')).toBe(true);
    expect(runsPerCell()).toBe(2);
  });

  it('narrows rows and servers, keeping Nchan and the bare Node floor for the ratios', () => {
    vi.stubEnv('EXECSTREAM_BENCH_FANOUT', 'resume, 1000@100:sse+agui, 1000x1:nchan');
    expect(selectedRows().map((row) => [row.key, row.servers])).toEqual([
      ['resume', ['nchan', 'bare', 'sse', 'trpc']],
      ['1000@100', ['nchan', 'bare', 'sse', 'agui']],
      ['1000x1', ['nchan', 'bare']],
    ]);
  });

  it('refuses a row or server it does not have, naming what there is', () => {
    vi.stubEnv('EXECSTREAM_BENCH_FANOUT', '1000@60');
    expect(() => selectedRows()).toThrow(/no row 1000@60; rows: 1000@100, 1000@75/);
    vi.stubEnv('EXECSTREAM_BENCH_FANOUT', 'resume:agui');
    expect(() => selectedRows()).toThrow(/row resume has no server agui/);
  });

  it('scales readers and executions down', () => {
    vi.stubEnv('EXECSTREAM_BENCH_READERS', '100');
    const rows = fanOutRows();
    expect(rows.find((row) => row.key === '3000@100')?.readersPerExecution).toBe(300);
    expect(rows.find((row) => row.key === '1000x1')).toMatchObject({
      executions: 100,
      readersPerExecution: 1,
      ratePerSecond: 100,
    });
    vi.stubEnv('EXECSTREAM_BENCH_RUNS', '0');
    expect(() => runsPerCell()).toThrow(/positive integer/);
  });

  it('takes medians', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});
