import { describeConformance } from '@execstream/stream-service/conformance';
import { clusterUrl, openRedisStreams, redisClusterForFile } from './support.ts';

const cluster = redisClusterForFile();

describeConformance({
  name: 'redis-cluster',
  create: async (options) => openRedisStreams({ url: clusterUrl(await cluster()), ...options }),
});
