import { EXECUTION_TYPES, type ExecutionType } from '@execstream/event-schema';
import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useTRPC } from './api.ts';
import { navigate, onLinkClick } from './router.ts';
import { StatusBadge } from './StatusBadge.tsx';

/** How often the list asks for its statuses while any execution in it is unfinished. */
const LIST_REFRESH_MS = 2_000;
const FINISHED = new Set(['completed', 'failed', 'cancelled']);

/** The caller's executions, newest first, and the form that submits one. */
export function Executions() {
  return (
    <div className="columns">
      <SubmitForm />
      <ExecutionList />
    </div>
  );
}

function ExecutionList() {
  const trpc = useTRPC();
  const list = useQuery({
    ...trpc.v2.executions.list.queryOptions({ limit: 50 }),
    refetchInterval: (query) =>
      query.state.data?.items.some((item) => !FINISHED.has(item.status)) ? LIST_REFRESH_MS : false,
  });
  return (
    <section className="panel" aria-labelledby="list-title">
      <h1 id="list-title">Your executions</h1>
      {list.isPending ? <p className="muted">Loading…</p> : null}
      {list.error ? <p role="alert">Could not load your executions: {list.error.message}</p> : null}
      {list.data && list.data.items.length === 0 ? (
        <p className="muted">Nothing yet: submit one.</p>
      ) : null}
      {list.data && list.data.items.length > 0 ? (
        <ul className="executions">
          {list.data.items.map((item) => {
            const path = `/executions/${item.operationId}`;
            return (
              <li key={item.operationId} data-operation-id={item.operationId}>
                <a href={path} onClick={onLinkClick(path)}>
                  <span className="type">{item.type}</span>
                  <code className="op">{item.operationId}</code>
                  <time dateTime={item.createdAt}>{new Date(item.createdAt).toLocaleString()}</time>
                </a>
                <StatusBadge status={item.status} />
              </li>
            );
          })}
        </ul>
      ) : null}
    </section>
  );
}

function SubmitForm() {
  const trpc = useTRPC();
  const [type, setType] = useState<ExecutionType>('swap');
  const [simulate, setSimulate] = useState(false);
  const [steps, setSteps] = useState(10);
  const [intervalMs, setIntervalMs] = useState(300);
  const [outcome, setOutcome] = useState<'completed' | 'failed'>('completed');
  const submit = useMutation(
    trpc.v2.executions.submit.mutationOptions({
      onSuccess: ({ operationId }) => navigate(`/executions/${operationId}`),
    }),
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit.mutate({
      type,
      params: simulate ? { simulate: { steps, intervalMs, outcome } } : {},
    });
  };
  return (
    <section className="panel" aria-labelledby="submit-title">
      <h2 id="submit-title">Submit an execution</h2>
      <form onSubmit={onSubmit}>
        <label htmlFor="type">Type</label>
        <select
          id="type"
          value={type}
          onChange={(event) => setType(event.target.value as ExecutionType)}
        >
          {EXECUTION_TYPES.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <div className="check">
          <input
            id="simulate"
            type="checkbox"
            checked={simulate}
            onChange={(event) => setSimulate(event.target.checked)}
          />
          <label htmlFor="simulate">Simulate (a deterministic demo run)</label>
        </div>
        <fieldset disabled={!simulate}>
          <legend>Simulation</legend>
          <NumberField
            id="steps"
            label="Steps (1–10,000)"
            min={1}
            max={10_000}
            value={steps}
            onChange={setSteps}
          />
          <NumberField
            id="interval"
            label="Interval between events (ms, 0–60,000)"
            min={0}
            max={60_000}
            value={intervalMs}
            onChange={setIntervalMs}
          />
          <label htmlFor="outcome">Outcome</label>
          <select
            id="outcome"
            value={outcome}
            onChange={(event) => setOutcome(event.target.value as 'completed' | 'failed')}
          >
            <option value="completed">completed</option>
            <option value="failed">failed</option>
          </select>
        </fieldset>
        <button type="submit" disabled={submit.isPending}>
          Submit
        </button>
        {submit.error ? <p role="alert">Submit failed: {submit.error.message}</p> : null}
      </form>
    </section>
  );
}

function NumberField(props: {
  id: string;
  label: string;
  min: number;
  max: number;
  value: number;
  onChange: (value: number) => void;
}) {
  return (
    <>
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        min={props.min}
        max={props.max}
        required
        value={Number.isNaN(props.value) ? '' : props.value}
        onChange={(event) => props.onChange(event.target.valueAsNumber)}
      />
    </>
  );
}
