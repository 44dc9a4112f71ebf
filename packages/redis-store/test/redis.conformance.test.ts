import { describeConformance } from '@execstream/stream-service/conformance';
import { openRedisBackend, redisServerForFile } from './support.ts';

const server = redisServerForFile();

describeConformance({
  name: 'redis',
  backend: async (options) => openRedisBackend({ url: (await server()).url, ...options }),
});
