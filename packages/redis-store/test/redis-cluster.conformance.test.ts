import { describeConformance } from '@execstream/stream-service/conformance';
import { clusterUrl, openRedisBackend, redisClusterForFile } from './support.ts';

const cluster = redisClusterForFile();

describeConformance({
  name: 'redis-cluster',
  backend: async (options) => openRedisBackend({ url: clusterUrl(await cluster()), ...options }),
});
