import { StoreUnavailableError } from '@execstream/stream-service';
import type { z } from 'zod';

/** Runs a Redis command; a failure surfaces as the store error every surface answers with 503. */
export async function redisCall<T>(what: string, command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    throw new StoreUnavailableError(`The ${what} is unavailable`, { cause: error });
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
