import type { ExecutionSnapshot } from '@execstream/event-schema';
import type { AppRouter } from '@execstream/trpc';
import type { TRPCClient } from '@trpc/client';

/**
 * Why an execution was cancelled: the `reason` of its `cancelled` state change. The snapshot
 * does not carry it, so it is read from the history; the terminal event is the last one, and
 * retention trims from the front, so it is always there. `null` when none was given.
 */
export async function cancelReason(
  client: TRPCClient<AppRouter>,
  operationId: string,
  signal?: AbortSignal,
): Promise<string | null> {
  let reason: string | null = null;
  let after: string | null = null;
  do {
    const page = await client.v2.executions.detail.query({ operationId, after }, { signal });
    for (const event of page.events) {
      if (event.kind === 'execution.state_changed' && event.payload.to === 'cancelled') {
        reason = event.payload.reason ?? null;
      }
    }
    after = page.nextCursor;
  } while (after);
  return reason;
}

/** The outcome the page states below the timeline, once there is one. */
export type OutcomeKind = 'completed' | 'failed' | 'cancelled' | 'error' | null;

export function outcomeOf(snapshot: ExecutionSnapshot): OutcomeKind {
  if (snapshot.status === 'completed' || snapshot.status === 'failed') return snapshot.status;
  if (snapshot.status === 'cancelled') return 'cancelled';
  // Not over yet, but an error was reported (the run may retry).
  return snapshot.error ? 'error' : null;
}
