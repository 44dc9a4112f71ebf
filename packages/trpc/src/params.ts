/** How deeply `submit`'s `params` may nest, in object and array levels, `params` being the first. */
export const MAX_PARAMS_DEPTH = 32;

/** How large `submit`'s `params` may be, serialised as JSON, in UTF-8 bytes (64 KiB). */
export const MAX_PARAMS_BYTES = 65_536;

/**
 * Why `params` is out of bounds, or `null`. Every execution's params are stored and read back
 * with its record, so they are bounded at the edge: a body within the request limit can still
 * nest 100,000 levels deep, which would make later recursive reads overflow the stack.
 */
export function paramsBoundsProblem(params: Record<string, unknown>): string | null {
  // A walk with a stack of its own: recursion over hostile nesting is what must be avoided.
  const pending: { value: unknown; depth: number }[] = [{ value: params, depth: 1 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value, depth } = next;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_PARAMS_DEPTH) return `must nest at most ${MAX_PARAMS_DEPTH} levels deep`;
    for (const child of Object.values(value)) pending.push({ value: child, depth: depth + 1 });
  }
  const bytes = Buffer.byteLength(JSON.stringify(params), 'utf8');
  return bytes > MAX_PARAMS_BYTES
    ? `must be at most ${MAX_PARAMS_BYTES} bytes as JSON, got ${bytes}`
    : null;
}
