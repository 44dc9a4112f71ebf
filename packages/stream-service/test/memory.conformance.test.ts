import { describeConformance } from '../src/conformance/index.ts';
import { createMemoryExecutionStreams } from '../src/index.ts';

describeConformance({
  name: 'memory',
  create: async (options) => createMemoryExecutionStreams(options),
});
