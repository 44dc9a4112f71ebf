import {
  type Envelope,
  type ExecutionSnapshot,
  isTerminalStatus,
  reduceExecution,
} from '@execstream/event-schema';

/**
 * One execution as the page holds it: hydrated from `get`, then every event of the stream that
 * follows `snapshot.cursor` folded in with the shared reducer, so it is at every moment the
 * snapshot the server would give at the same point (CONTRACT §3).
 */
export interface Followed {
  snapshot: ExecutionSnapshot;
  /** Events folded in since hydration. */
  received: number;
  /** `execution.snapshot`s that replaced the state mid-stream: the cursor was gone (§4). */
  resyncs: number;
  /** Events at or before the state's sequence (a repeat), dropped: the stream promises none. */
  repeats: number;
  /** Events that skipped sequences: the stream promises none. */
  gaps: number;
}

export function hydrate(snapshot: ExecutionSnapshot): Followed {
  return { snapshot, received: 0, resyncs: 0, repeats: 0, gaps: 0 };
}

/** Folds one event of the stream into the state. */
export function follow(state: Followed, envelope: Envelope): Followed {
  if (envelope.kind === 'execution.snapshot') {
    return {
      ...state,
      snapshot: reduceExecution(state.snapshot, envelope),
      received: state.received + 1,
      resyncs: state.resyncs + 1,
    };
  }
  const expected = state.snapshot.sequence + 1;
  if (envelope.sequence < expected) {
    return { ...state, repeats: state.repeats + 1 };
  }
  return {
    ...state,
    snapshot: reduceExecution(state.snapshot, envelope),
    received: state.received + 1,
    gaps: state.gaps + (envelope.sequence > expected ? 1 : 0),
  };
}

export function isFinished(state: Followed): boolean {
  return isTerminalStatus(state.snapshot.status);
}

/** What the page says of its connection. */
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

/**
 * The connection from tRPC's subscription status: `connecting` with an error is the link's
 * EventSource reconnecting after a failure (it resumes from its last tracked cursor).
 */
export function connectionOf(
  finished: boolean,
  status: 'idle' | 'connecting' | 'pending' | 'error',
  hasError: boolean,
): Connection {
  if (finished) return 'ended';
  if (status === 'pending') return 'live';
  if (status === 'error') return 'failed';
  return hasError ? 'reconnecting' : 'connecting';
}

/** Block explorers of the chains the demo runs on; an unknown chain's hash stays plain text. */
const EXPLORERS: Record<number, string> = {
  1: 'https://etherscan.io',
  10: 'https://optimistic.etherscan.io',
  137: 'https://polygonscan.com',
  8453: 'https://basescan.org',
  42161: 'https://arbiscan.io',
};

export function explorerTxUrl(chainId: number | undefined, txHash: string): string | null {
  const base = chainId === undefined ? undefined : EXPLORERS[chainId];
  return base ? `${base}/tx/${txHash}` : null;
}
