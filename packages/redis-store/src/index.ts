import {
  createStreamService,
  type ExecutionStreams,
  type StreamServiceOptions,
} from '@execstream/stream-service';
import { RedisBackend, type RedisBackendOptions } from './redis-backend.ts';

export {
  type ClusterNodeAddress,
  type ConnectOptions,
  connectRedis,
  parseRedisUrl,
  type RedisClient,
  type RedisTarget,
  waitUntilReady,
} from './connect.ts';
export { toStoreError } from './errors.ts';
export { type ExecutionKeys, type OwnerKeys, RedisKeys } from './keys.ts';
export { RedisBackend, type RedisBackendOptions } from './redis-backend.ts';
export { RedisStreamSlots, type RedisStreamSlotsOptions } from './stream-slots.ts';

/**
 * The stream service on Redis (standalone or Cluster): what the server uses when `REDIS_URL` is
 * set. Resolves once Redis takes commands; rejects with `StoreUnavailableError` if it does not
 * within `connectTimeoutMs`.
 */
export async function createRedisExecutionStreams(
  options: RedisBackendOptions & StreamServiceOptions,
): Promise<ExecutionStreams> {
  return createStreamService(await RedisBackend.connect(options), options);
}
