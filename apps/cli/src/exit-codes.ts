import type { ExecutionStatus } from '@execstream/client';

/**
 * The exit codes of `execstream` (documented in docs/integrators.md). `watch` (and `submit
 * --watch`) exit with the outcome of the execution; every command exits 4 when the server
 * cannot be reached and 5 when it refuses (401, 404, 400, 429, ...).
 */
export const EXIT = {
  /** The command succeeded; for `watch`, the execution completed. */
  ok: 0,
  /** `watch`: the execution failed. */
  failed: 1,
  /** Bad arguments or options. */
  usage: 2,
  /** `watch`: the execution was cancelled. */
  cancelled: 3,
  /** The server could not be reached (after `--max-retries` attempts for `watch`). */
  unreachable: 4,
  /** The server refused the request, or answered outside the contract. */
  refused: 5,
} as const;

export function exitCodeOf(status: ExecutionStatus): number {
  if (status === 'completed') return EXIT.ok;
  if (status === 'failed') return EXIT.failed;
  if (status === 'cancelled') return EXIT.cancelled;
  // Not terminal: a follow only ends at a terminal status, so this is the server's word.
  return EXIT.refused;
}
