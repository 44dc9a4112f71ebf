import {
  type Envelope,
  type ExecutionSnapshot,
  isTerminalStatus,
  type OperationId,
} from '@execstream/event-schema';
import { StoreUnavailableError, TooManyExecutionsError } from './errors.ts';
import type { ExecutionRecord, ExecutionState, StreamBackend } from './types.ts';

/**
 * How long a reservation may name an execution that does not exist before it counts as stale:
 * far longer than any creation takes between reserving and storing, so an execution being
 * created right now is never pruned, which would let the owner pass the limit.
 */
export const RESERVATION_GRACE_MS = 60_000;

/**
 * The `Retry-After` of `TooManyExecutionsError`. Nobody knows when a run will end; runs take
 * seconds, so a sooner retry would mostly find the owner still at the limit.
 */
export const TOO_MANY_EXECUTIONS_RETRY_AFTER_SECONDS = 5;

// Reservations a prune checks: above any sensible limit, and a bound on what one refused create
// may cost (one head read each).
const PRUNE_SCAN_LIMIT = 1_000;

/**
 * When each owner's reservations were last pruned, so that it happens at most once per interval
 * and process. A prune reads up to `PRUNE_SCAN_LIMIT` heads: an owner at its limit who keeps
 * submitting must not turn each refused request into a thousand store reads, which would spend
 * what other owners need. Entries older than the interval are dropped as the map grows.
 */
export class PruneThrottle {
  readonly #lastPruned = new Map<string, number>();
  readonly #intervalMs: number;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** True (and recorded) when `ownerId` was not pruned within the interval. */
  take(ownerId: string, nowMs: number): boolean {
    const last = this.#lastPruned.get(ownerId);
    if (last !== undefined && nowMs - last < this.#intervalMs) return false;
    if (this.#lastPruned.size >= 10_000) {
      for (const [owner, at] of this.#lastPruned) {
        if (nowMs - at >= this.#intervalMs) this.#lastPruned.delete(owner);
      }
    }
    this.#lastPruned.set(ownerId, nowMs);
    return true;
  }
}

export interface CountedCreation {
  record: ExecutionRecord;
  first: Envelope;
  snapshot: ExecutionSnapshot;
  /** The owner's limit on unfinished executions; `null` counts this one without a limit. */
  limit: number | null;
  nowMs: number;
  /** Bounds how often a full owner's reservations are pruned. */
  throttle: PruneThrottle;
}

/**
 * Creates an execution holding a slot among its owner's unfinished executions (CONTRACT §8).
 * Owner and execution keys live in different hash slots on Redis Cluster, so this is steps, each
 * idempotent, in the order that keeps the count from ever falling below the truth:
 * 1. reserve a slot for the new id, atomically in the owner's slot (at the limit, first prune
 *    stale reservations; still full: an existing execution this request names is returned,
 *    else `TooManyExecutionsError` and nothing is written);
 * 2. create the execution;
 * 3. settle: the slot stays with the execution that now stands for the request.
 * A process that dies between steps leaves a reservation that `pruneStaleReservations` frees.
 * The backend frees a slot itself when its execution ends, after the commit that ends it.
 */
export async function createCounted(
  backend: StreamBackend,
  creation: CountedCreation,
): Promise<{ state: ExecutionState; created: boolean }> {
  const { record, limit, nowMs } = creation;
  const { ownerId, operationId } = record;
  if (!(await reserveSlot(backend, creation, ownerId, operationId))) {
    // An idempotent resubmit is answered at the limit too: it creates nothing.
    const existing = await existingExecution(backend, record);
    if (existing) return { state: existing, created: false };
    // Only a limit refuses a slot, so `limit` is set here.
    throw new TooManyExecutionsError(limit ?? 0, TOO_MANY_EXECUTIONS_RETRY_AFTER_SECONDS);
  }
  let outcome: { state: ExecutionState; created: boolean };
  try {
    outcome = await backend.createExecution(record, creation.first, creation.snapshot);
  } catch (error) {
    // Nothing was created, unless the store went away mid-call: then the slot stays, and is
    // pruned after the grace period if the execution never came to be.
    if (!(error instanceof StoreUnavailableError)) {
      await backend.releaseUnfinished(ownerId, [operationId]).catch(() => {});
    }
    throw error;
  }
  await settleReservation(backend, ownerId, operationId, outcome.state, nowMs).catch(() => {
    // The execution exists either way; a slot left behind is stale and gets pruned.
  });
  return outcome;
}

async function reserveSlot(
  backend: StreamBackend,
  { limit, nowMs, throttle }: CountedCreation,
  ownerId: string,
  operationId: OperationId,
): Promise<boolean> {
  if (await backend.reserveUnfinished(ownerId, operationId, limit, nowMs)) return true;
  if (!throttle.take(ownerId, nowMs)) return false;
  if ((await pruneStaleReservations(backend, ownerId, nowMs)) === 0) return false;
  return backend.reserveUnfinished(ownerId, operationId, limit, nowMs);
}

/**
 * Frees the owner's reservations that no longer stand for an unfinished execution, judged by the
 * execution's own state: terminal (a process died between the ending commit and freeing its
 * slot), or missing for longer than the grace period (it died between reserving and creating, or
 * the execution has since expired). So the count heals by itself and never locks an owner out
 * for good. Runs only when an owner is at its limit. Returns how many it freed.
 */
export async function pruneStaleReservations(
  backend: StreamBackend,
  ownerId: string,
  nowMs: number,
): Promise<number> {
  const reservations = await backend.listReservations(ownerId, PRUNE_SCAN_LIMIT);
  const heads = await Promise.all(reservations.map((held) => backend.readHead(held.operationId)));
  const stale = reservations.flatMap((held, index) => {
    const head = heads[index];
    const gone = head
      ? isTerminalStatus(head.status)
      : nowMs - held.reservedAtMs > RESERVATION_GRACE_MS;
    return gone ? [held.operationId] : [];
  });
  if (stale.length > 0) await backend.releaseUnfinished(ownerId, stale);
  return stale.length;
}

/** The execution a request names already (by idempotency key, else by operation id), if any. */
async function existingExecution(
  backend: StreamBackend,
  record: ExecutionRecord,
): Promise<ExecutionState | null> {
  const claimed =
    record.idempotencyKey === null
      ? null
      : await backend.findIdempotent(record.ownerId, record.idempotencyKey);
  return backend.readState(claimed ?? record.operationId);
}

/**
 * The slot reserved for `reservedId` stays only if that id is now an unfinished execution of
 * this owner. A request can resolve to another execution (its idempotency key named one): if
 * that one is unfinished it takes the slot over, before ours is freed, so the count may pass the
 * truth for a moment but never fall below it.
 */
async function settleReservation(
  backend: StreamBackend,
  ownerId: string,
  reservedId: OperationId,
  state: ExecutionState,
  nowMs: number,
): Promise<void> {
  const standing = state.record.operationId;
  const unfinished = state.record.ownerId === ownerId && !isTerminalStatus(state.snapshot.status);
  if (standing === reservedId && unfinished) return;
  if (unfinished) await backend.reserveUnfinished(ownerId, standing, null, nowMs);
  await backend.releaseUnfinished(ownerId, [reservedId]);
}
