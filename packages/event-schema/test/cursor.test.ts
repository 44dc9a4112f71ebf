import { describe, expect, it } from 'vitest';
import {
  CursorSchema,
  compareCursors,
  cursorMillis,
  firstCursor,
  isCursor,
  nextCursors,
  parseCursor,
} from '../src/index.ts';

describe('cursors', () => {
  it('orders both parts as integers, never as strings', () => {
    expect(compareCursors('10-0', '9-0')).toBe(1);
    expect(compareCursors('5-10', '5-9')).toBe(1);
    expect(compareCursors('5-9', '5-10')).toBe(-1);
    expect(compareCursors('007-1', '7-1')).toBe(0);
    expect(compareCursors('18446744073709551615-0', '18446744073709551614-99')).toBe(1);
    const shuffled = ['10-1', '9-20', '10-0', '100-0', '9-3'];
    expect(shuffled.sort(compareCursors)).toEqual(['9-3', '9-20', '10-0', '10-1', '100-0']);
  });

  it('rejects malformed cursors and parts beyond 64 bits', () => {
    for (const bad of [
      '',
      'a-1',
      '1',
      '1-',
      '-1',
      '1-2-3',
      ' 1-1',
      '1.0-1',
      '18446744073709551616-0',
    ]) {
      expect(parseCursor(bad), bad).toBeNull();
      expect(isCursor(bad), bad).toBe(false);
      expect(CursorSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(() => compareCursors('x', '1-1')).toThrow(/Malformed cursor/);
    expect(parseCursor('1743163201000-7')).toEqual({ ms: 1743163201000n, seq: 7n });
  });

  it('mints strictly increasing ids even when the clock stands still or steps back', () => {
    const first = firstCursor(1_000, 41);
    expect(first).toBe('1000-42');
    const sameMs = nextCursors(first, 3, 1_000);
    const clockBack = nextCursors(sameMs.at(-1) ?? '', 2, 500);
    const later = nextCursors(clockBack.at(-1) ?? '', 1, 2_000);
    const all = [first, ...sameMs, ...clockBack, ...later];
    expect(all).toEqual([
      '1000-42',
      '1000-43',
      '1000-44',
      '1000-45',
      '1000-46',
      '1000-47',
      '2000-48',
    ]);
    for (let index = 1; index < all.length; index++) {
      expect(compareCursors(all[index] ?? '', all[index - 1] ?? '')).toBe(1);
    }
    expect(cursorMillis('2000-48')).toBe(2000);
  });
});
