import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CommitOutcome } from '@execstream/stream-service';
import type { RedisClient } from './connect.ts';

/** A Lua script, read from `src/lua/` once per process; Redis caches it by its SHA1. */
export interface LuaScript {
  name: string;
  source: string;
  sha: string;
}

function load(name: string): LuaScript {
  const source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  create: load('create'),
  commit: load('commit'),
  readState: load('read-state'),
  claim: load('claim'),
  reserve: load('reserve'),
  acquireLease: load('acquire-lease'),
  claimCandidates: load('claim-candidates'),
  releaseLease: load('release-lease'),
  acquireStreamSlots: load('acquire-stream-slots'),
  renewStreamSlots: load('renew-stream-slots'),
} as const;

/**
 * Runs a script by its SHA1. Redis forgets scripts on restart (and each cluster node has its own
 * cache), so on `NOSCRIPT` it is sent once in full with EVAL, which also caches it again; a
 * script is never sent in full while the server still has it.
 */
export async function runScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** What commit.lua answered, with its return codes mapped once. */
export type CommitReply =
  | { outcome: 'committed'; terminalRecord: string | null }
  | { outcome: Exclude<CommitOutcome, 'committed'> };

export function interpretCommit(reply: unknown): CommitReply {
  const [code, record] = reply as [number, string | undefined];
  switch (code) {
    case 1:
      return { outcome: 'committed', terminalRecord: null };
    case 2:
      return { outcome: 'committed', terminalRecord: record ?? null };
    case 3:
      return { outcome: 'duplicate' };
    case -1:
      return { outcome: 'missing' };
    case -5:
      return { outcome: 'lease-lost' };
    // The execution moved on, or ended: either way the batch was decided on a stale head. The
    // service re-reads it and raises the precise typed error (conflict, terminal, transition).
    case -2:
    case -3:
      return { outcome: 'conflict' };
    case -4:
      throw new Error(
        'commit.lua: event ids are not after the stream top although the sequence matched; ' +
          'the stream and its state disagree',
      );
    default:
      throw new Error(`commit.lua: unexpected reply ${JSON.stringify(reply)}`);
  }
}

/** reserve.lua's replies. */
const RESERVE_REPLY = { reserved: 1, full: 0 } as const;

/** What reserve.lua answered: true when the id holds a slot, false when the owner is full. */
export function interpretReserve(reply: unknown): boolean {
  if (reply === RESERVE_REPLY.reserved) return true;
  if (reply === RESERVE_REPLY.full) return false;
  throw new Error(`reserve.lua: unexpected reply ${JSON.stringify(reply)}`);
}

/** acquire-lease.lua's replies. */
const LEASE_REPLY = { taken: 1, held: 0, ended: -1 } as const;

/** What acquire-lease.lua answered: taken, held by another, or no lease for a run that ended. */
export function interpretLease(reply: unknown): 'taken' | 'held' | 'ended' {
  switch (reply) {
    case LEASE_REPLY.taken:
      return 'taken';
    case LEASE_REPLY.held:
      return 'held';
    case LEASE_REPLY.ended:
      return 'ended';
    default:
      throw new Error(`acquire-lease.lua: unexpected reply ${JSON.stringify(reply)}`);
  }
}
