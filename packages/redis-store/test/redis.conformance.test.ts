import { describeConformance } from '@execstream/stream-service/conformance';
import { openRedisStreams, redisServerForFile } from './support.ts';

const server = redisServerForFile();

describeConformance({
  name: 'redis',
  create: async (options) => openRedisStreams({ url: (await server()).url, ...options }),
});
