import * as z from 'zod/mini';

/**
 * A cursor is the Redis Streams entry id of an event, `<ms>-<seq>` (CONTRACT §1). Clients treat
 * it as opaque, but the server validates and orders it. Both parts are compared as integers:
 * `"10-0"` is after `"9-0"`, which a string comparison would get wrong.
 */
export const CURSOR_PATTERN = /^\d{1,20}-\d{1,20}$/;

const UINT64_MAX = (1n << 64n) - 1n;

export const CursorSchema = z.string().check(
  z.regex(CURSOR_PATTERN, 'cursor must look like <ms>-<seq>, e.g. 1743163201000-0'),
  z.refine((value) => parseCursor(value) !== null, 'cursor parts must fit in 64 bits'),
);
export type Cursor = string;

export interface ParsedCursor {
  ms: bigint;
  seq: bigint;
}

/** The cursor that sorts before every event: "from the very first". */
export const START_CURSOR = '0-0';

/** Parses `<ms>-<seq>`; `null` for anything malformed, including parts beyond 64 bits. */
export function parseCursor(value: string): ParsedCursor | null {
  if (!CURSOR_PATTERN.test(value)) return null;
  const dash = value.indexOf('-');
  const ms = BigInt(value.slice(0, dash));
  const seq = BigInt(value.slice(dash + 1));
  if (ms > UINT64_MAX || seq > UINT64_MAX) return null;
  return { ms, seq };
}

export function isCursor(value: unknown): value is Cursor {
  return typeof value === 'string' && parseCursor(value) !== null;
}

/** Negative when `a` is before `b`, zero when equal, positive when after. Throws on malformed input. */
export function compareCursors(a: Cursor, b: Cursor): number {
  const left = mustParse(a);
  const right = mustParse(b);
  if (left.ms !== right.ms) return left.ms < right.ms ? -1 : 1;
  if (left.seq !== right.seq) return left.seq < right.seq ? -1 : 1;
  return 0;
}

export function formatCursor({ ms, seq }: ParsedCursor): Cursor {
  return `${ms}-${seq}`;
}

/**
 * The ids for `count` new events appended after `last` at wall-clock `nowMs`.
 *
 * The millisecond part is the append time, never going back (another process's clock, NTP).
 * The sequence part only ever increments within a stream and starts at a random per-stream
 * offset (`firstCursor`), so the ids of two streams written in the same millisecond differ:
 * another stream's cursor is then recognised as foreign and answered with a resync, where a
 * shared `<ms>-0` would have been taken for an event of this stream and silently skipped events.
 */
export function nextCursors(last: Cursor, count: number, nowMs: number): Cursor[] {
  const previous = mustParse(last);
  const now = BigInt(Math.floor(nowMs));
  const ms = now > previous.ms ? now : previous.ms;
  const cursors: Cursor[] = [];
  for (let index = 1; index <= count; index++) {
    cursors.push(formatCursor({ ms, seq: previous.seq + BigInt(index) }));
  }
  return cursors;
}

/** The id of a new stream's first event; `offset` is the stream's random sequence offset. */
export function firstCursor(nowMs: number, offset: number): Cursor {
  return formatCursor({ ms: BigInt(Math.floor(nowMs)), seq: BigInt(offset) + 1n });
}

/** The millisecond part of a cursor as a number: the instant its event was appended. */
export function cursorMillis(cursor: Cursor): number {
  return Number(mustParse(cursor).ms);
}

function mustParse(value: Cursor): ParsedCursor {
  const parsed = parseCursor(value);
  if (!parsed) throw new TypeError(`Malformed cursor: ${JSON.stringify(value)}`);
  return parsed;
}
