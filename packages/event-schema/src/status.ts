import * as z from 'zod/mini';

export const EXECUTION_STATUSES = [
  'accepted',
  'running',
  'awaiting_user',
  'retrying',
  'completed',
  'failed',
  'cancelled',
] as const;
export const ExecutionStatusSchema = z.enum(EXECUTION_STATUSES);
export type ExecutionStatus = z.infer<typeof ExecutionStatusSchema>;

export const EXECUTION_TYPES = ['swap', 'bridge', 'rebalance', 'withdraw'] as const;
export const ExecutionTypeSchema = z.enum(EXECUTION_TYPES);
export type ExecutionType = z.infer<typeof ExecutionTypeSchema>;

/** CONTRACT §3: the statuses each status may move to. Terminal statuses lead nowhere. */
export const STATUS_TRANSITIONS: Readonly<Record<ExecutionStatus, readonly ExecutionStatus[]>> = {
  accepted: ['running', 'failed', 'cancelled'],
  running: ['awaiting_user', 'retrying', 'completed', 'failed', 'cancelled'],
  awaiting_user: ['running', 'failed', 'cancelled'],
  retrying: ['running', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export const TERMINAL_STATUSES: ReadonlySet<ExecutionStatus> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

export function isTerminalStatus(status: ExecutionStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return STATUS_TRANSITIONS[from].includes(to);
}
