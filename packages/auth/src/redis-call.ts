import { toStoreError } from '@execstream/redis-store';
import type { z } from 'zod';

/**
 * Runs a Redis command. An outage surfaces as the store error every surface answers with 503 (or
 * a `retry:` on a stream); anything else (a bug, a key of the wrong type) stays what it is, to be
 * logged, rather than be retried for ever as an outage. `what` names the store in logs.
 */
export async function redisCall<T>(what: string, command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    const mapped = toStoreError(error);
    if (mapped instanceof Error && mapped !== error) mapped.message = `${what}: ${mapped.message}`;
    throw mapped;
  }
}

/** A stored JSON value in the schema's shape; `null` for one someone wrote by hand, broken. */
export function parseStored<T>(schema: z.ZodType<T>, raw: string): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
