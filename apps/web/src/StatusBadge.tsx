import type { ExecutionStatus } from '@execstream/event-schema';

const LABELS: Record<ExecutionStatus, string> = {
  accepted: 'accepted',
  running: 'running',
  awaiting_user: 'awaiting you',
  retrying: 'retrying',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

export function StatusBadge({ status }: { status: ExecutionStatus }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      {LABELS[status]}
    </span>
  );
}
