import { isTerminalStatus, type TimelineEntry } from '@execstream/event-schema';
import { skipToken, useMutation, useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useRef, useState } from 'react';
import { errorCode, useTRPC, useTRPCClient } from './api.ts';
import {
  type Connection,
  connectionOf,
  explorerTxUrl,
  type Followed,
  follow,
  hydrate,
  isFinished,
} from './follow.ts';
import { cancelReason, outcomeOf } from './outcome.ts';
import { onLinkClick } from './router.ts';
import { StatusBadge } from './StatusBadge.tsx';

const CONNECTION_LABELS: Record<Connection, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: 'ended',
  failed: 'disconnected',
};

/**
 * One execution, live: hydrated with `get`, then the stream from the snapshot's cursor folded in
 * with the shared reducer. The subscription's input is fixed at hydration; on a reconnect the
 * link resumes from the last cursor it saw, so nothing is missed and nothing comes twice.
 */
export function ExecutionView({ operationId }: { operationId: string }) {
  const trpc = useTRPC();
  const hydration = useQuery({
    ...trpc.v2.executions.get.queryOptions({ operationId }),
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 0,
  });
  const [state, setState] = useState<Followed | null>(null);
  if (hydration.data && state === null) setState(hydrate(hydration.data));

  const from = hydration.data;
  const subscription = useSubscription(
    trpc.v2.executions.stream.subscriptionOptions(
      from && !isTerminalStatus(from.status)
        ? { operationId, lastEventId: from.cursor }
        : skipToken,
      { onData: ({ data }) => setState((current) => current && follow(current, data)) },
    ),
  );
  const cancel = useMutation(trpc.v2.executions.cancel.mutationOptions());

  // Once loaded (or refused), the view's heading takes the focus, so keyboard and screen-reader
  // users start there.
  const heading = useRef<HTMLHeadingElement>(null);
  const loaded = state !== null || hydration.error !== null;
  useEffect(() => {
    if (loaded) heading.current?.focus();
  }, [loaded]);

  if (hydration.error) {
    const notFound = errorCode(hydration.error) === 'NOT_FOUND';
    return (
      <section className="panel" aria-labelledby="execution-title">
        <h1 id="execution-title" tabIndex={-1} ref={heading}>
          {notFound ? 'Execution not found' : 'Could not load this execution'}
        </h1>
        <p role="alert">
          {notFound
            ? `No execution ${operationId} belongs to this wallet.`
            : hydration.error.message}
        </p>
        <BackLink />
      </section>
    );
  }
  if (!state) {
    return (
      <section className="panel" aria-busy="true">
        <h1>Loading {operationId}…</h1>
      </section>
    );
  }

  const { snapshot } = state;
  const finished = isFinished(state);
  const connection = connectionOf(finished, subscription.status, subscription.error !== null);
  // A completed run is done, whatever its last progress event said.
  const percent = snapshot.status === 'completed' ? 100 : (snapshot.progress?.percent ?? 0);
  return (
    <section
      className="panel execution"
      aria-labelledby="execution-title"
      data-operation-id={operationId}
      data-sequence={snapshot.sequence}
      data-received={state.received}
      data-resyncs={state.resyncs}
      data-repeats={state.repeats}
      data-gaps={state.gaps}
    >
      <BackLink />
      <div className="heading">
        <h1 id="execution-title" tabIndex={-1} ref={heading}>
          {snapshot.type} <code>{operationId}</code>
        </h1>
        <StatusBadge status={snapshot.status} />
      </div>
      <div className="meta">
        <span className={`connection connection-${connection}`} data-connection={connection}>
          <span className="dot" aria-hidden="true" />
          <span role="status">{CONNECTION_LABELS[connection]}</span>
        </span>
        <span className="resynced" data-resynced={state.resyncs > 0}>
          {state.resyncs > 0 ? 'resynced from a snapshot' : ''}
        </span>
        <span className="muted small">
          event {snapshot.sequence} · updated{' '}
          <time dateTime={snapshot.updatedAt}>
            {new Date(snapshot.updatedAt).toLocaleTimeString()}
          </time>
        </span>
      </div>
      <div className="progress">
        <div
          className="track"
          role="progressbar"
          aria-label="Progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
        >
          <div className="fill" style={{ width: `${percent}%` }} />
        </div>
        <span className="percent">{percent}%</span>
        <span className="step muted">
          {snapshot.progress?.message ?? snapshot.progress?.step ?? '\u00a0'}
        </span>
      </div>
      <div className="actions">
        <button
          type="button"
          className="danger"
          disabled={finished || cancel.isPending}
          onClick={() => cancel.mutate({ operationId })}
        >
          Cancel
        </button>
        {cancel.error ? <span role="alert">Cancel failed: {cancel.error.message}</span> : null}
      </div>
      <h2>Timeline</h2>
      <ol className="timeline" aria-live="polite">
        {snapshot.timeline.map((entry) => (
          <TimelineRow key={entry.sequence} entry={entry} />
        ))}
        {/* A row's place, so the first entry takes it without moving anything. */}
        {snapshot.timeline.length === 0 ? <li className="empty muted">No entries yet.</li> : null}
      </ol>
      {/* Below the timeline, which only grows at its end: nothing above it moves as events come. */}
      <Outcome snapshot={snapshot} />
    </section>
  );
}

function BackLink() {
  return (
    <a className="back" href="/" onClick={onLinkClick('/')}>
      ← Your executions
    </a>
  );
}

/** How it ended (or the error it reported), and why. */
function Outcome({ snapshot }: { snapshot: Followed['snapshot'] }) {
  const kind = outcomeOf(snapshot);
  const client = useTRPCClient();
  const reason = useQuery({
    queryKey: ['cancel-reason', snapshot.operationId],
    queryFn: ({ signal }) => cancelReason(client, snapshot.operationId, signal),
    enabled: kind === 'cancelled',
    staleTime: Number.POSITIVE_INFINITY,
  });
  if (kind === 'completed') {
    return (
      <div className="outcome result" data-outcome="completed">
        <h2>Completed</h2>
        {snapshot.result?.summary ? <p className="reason">{snapshot.result.summary}</p> : null}
        {snapshot.result ? <pre>{JSON.stringify(snapshot.result.output, null, 2)}</pre> : null}
      </div>
    );
  }
  if (kind === 'cancelled') {
    return (
      <div className="outcome cancelled" data-outcome="cancelled" role="status">
        <h2>Cancelled</h2>
        <p className="reason">
          {reason.isError
            ? 'Its reason could not be loaded.'
            : reason.isPending
              ? '\u00a0'
              : (reason.data ?? 'No reason was given.')}
        </p>
      </div>
    );
  }
  if (kind === 'failed' || kind === 'error') {
    return (
      <div className="outcome error" data-outcome={kind} role="alert">
        <h2>{kind === 'failed' ? 'Failed' : 'Error'}</h2>
        <p className="reason">
          {snapshot.error ? (
            <>
              {snapshot.error.message} <code>{snapshot.error.code}</code>
              {kind === 'error' && snapshot.error.retryable ? ' (retrying)' : ''}
            </>
          ) : (
            'No reason was given.'
          )}
        </p>
      </div>
    );
  }
  return null;
}

function TimelineRow({ entry }: { entry: TimelineEntry }) {
  const url = entry.txHash ? explorerTxUrl(entry.chainId, entry.txHash) : null;
  return (
    <li data-sequence={entry.sequence} className={`level-${entry.level ?? 'info'}`}>
      <time dateTime={entry.ts}>{new Date(entry.ts).toLocaleTimeString()}</time>
      {entry.step ? <span className="step">{entry.step}</span> : null}
      <span className="message">{entry.message}</span>
      {entry.txHash ? (
        url ? (
          <a className="tx" href={url} target="_blank" rel="noreferrer" data-tx={entry.txHash}>
            {shortHash(entry.txHash)}
            <span className="visually-hidden"> (opens the block explorer)</span>
          </a>
        ) : (
          <code className="tx" data-tx={entry.txHash}>
            {shortHash(entry.txHash)}
          </code>
        )
      ) : null}
    </li>
  );
}

function shortHash(hash: string): string {
  return hash.length > 14 ? `${hash.slice(0, 8)}…${hash.slice(-6)}` : hash;
}
