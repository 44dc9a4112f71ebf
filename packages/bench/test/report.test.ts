import { describe, expect, it } from 'vitest';
import { formatNumber, markdownTable, percentile } from '../src/report.ts';

describe('bench report', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(() => percentile([], 50)).toThrow(RangeError);
  });

  it('formats counts as integers and small measures with decimals', () => {
    expect(formatNumber(2)).toBe('2');
    expect(formatNumber(1234567.8)).toBe('1,234,568');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(0.954)).toBe('0.95');
    expect(formatNumber(null)).toBe('–');
  });

  it('renders one row per measure and one column per backend', () => {
    const table = markdownTable({
      suite: 's',
      title: 't',
      columns: ['memory', 'redis'],
      measures: [{ label: 'append', unit: 'events/s', values: { memory: 1000, redis: null } }],
      notes: [],
    });
    expect(table.split('\n')).toEqual([
      '| measure           | memory | redis |',
      '| ----------------- | -----: | ----: |',
      '| append (events/s) |  1,000 |     – |',
    ]);
  });
});
