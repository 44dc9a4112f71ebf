import { HttpAgent } from '@ag-ui/client';
import type { BaseEvent } from '@ag-ui/core';
import { EventSchema } from '@ag-ui/core/schemas';
import type { ExecutionSnapshot } from '@execstream/event-schema';
import { expect, vi } from 'vitest';
import type { SseRead } from './sse.ts';

export function agUiUrl(baseUrl: string, operationId: string): string {
  return `${baseUrl}/v1/ai/executions/${operationId}/ag-ui-stream`;
}

/** `@ag-ui/client`'s own HTTP agent, pointed at an execution's AG-UI stream. */
export function httpAgent(baseUrl: string, operationId: string, apiKey: string): HttpAgent {
  return new HttpAgent({ url: agUiUrl(baseUrl, operationId), headers: { 'X-API-KEY': apiKey } });
}

export interface AgentRun {
  /** Every event the agent's pipeline (schema enforcement, sequence checks) let through. */
  events: BaseEvent[];
  result: unknown;
  state: ExecutionSnapshot;
}

/**
 * Runs the agent once (one POST, followed until the response ends) and returns what it saw.
 * Fails on any warning or error the client prints: it strips what its schemas do not know and
 * reports what its checks refuse that way, so a clean console means the stream was valid.
 */
export async function runAgent(
  agent: HttpAgent,
  onEvent: (event: BaseEvent) => void = () => {},
): Promise<AgentRun> {
  const warn = vi.spyOn(console, 'warn');
  const error = vi.spyOn(console, 'error');
  const events: BaseEvent[] = [];
  try {
    const { result } = await agent.runAgent(
      {},
      {
        onEvent: ({ event }) => {
          events.push(event);
          onEvent(event);
        },
      },
    );
    expect(warn.mock.calls).toEqual([]);
    expect(error.mock.calls).toEqual([]);
    return { events, result, state: agent.state as ExecutionSnapshot };
  } finally {
    warn.mockRestore();
    error.mockRestore();
  }
}

/**
 * Starts a run and resolves once its stream has opened (its `STATE_SNAPSHOT` arrived), with the
 * run's end still to come: what a test appends then reaches the agent live.
 */
export async function runAgentOpened(agent: HttpAgent): Promise<{ done: Promise<AgentRun> }> {
  let opened!: () => void;
  const isOpen = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const run = runAgent(agent, (event) => {
    if (event.type === 'STATE_SNAPSHOT') opened();
  });
  // A run that fails before it opens must fail the test, not leave it waiting.
  await Promise.race([isOpen, run]);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { done: run };
}

/** The AG-UI events of a raw read of the stream, each checked against `@ag-ui/core`'s schema. */
export function wireEvents(read: SseRead): { id: string; event: Record<string, unknown> }[] {
  return read.messages.map((message) => {
    const event = JSON.parse(message.data) as Record<string, unknown>;
    expect(EventSchema.safeParse(event).error).toBeUndefined();
    // Integer milliseconds, and no field sent as null (absent is the only spelling).
    expect(Number.isInteger(event.timestamp)).toBe(true);
    for (const [key, value] of Object.entries(event)) expect(value, key).not.toBeNull();
    return { id: message.lastEventId, event };
  });
}

/** Steps started and not finished, per the events of one run. */
export function openSteps(events: readonly { type: string; stepName?: unknown }[]): string[] {
  const open: string[] = [];
  for (const event of events) {
    if (event.type === 'STEP_STARTED') open.push(String(event.stepName));
    if (event.type === 'STEP_FINISHED') open.splice(open.indexOf(String(event.stepName)), 1);
  }
  return open;
}
