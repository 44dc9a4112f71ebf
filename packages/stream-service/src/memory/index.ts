import { createStreamService } from '../service.ts';
import type { ExecutionStreams, StreamServiceOptions } from '../types.ts';
import { MemoryBackend, type MemoryBackendOptions } from './memory-backend.ts';

export { MemoryBackend, type MemoryBackendOptions } from './memory-backend.ts';

/** The embedded, zero-setup stream service. */
export function createMemoryExecutionStreams(
  options: MemoryBackendOptions & StreamServiceOptions = {},
): ExecutionStreams {
  return createStreamService(new MemoryBackend(options), options);
}
