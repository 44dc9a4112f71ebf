import { describeConformance } from '../src/conformance/index.ts';
import { MemoryBackend } from '../src/index.ts';

describeConformance({
  name: 'memory',
  backend: async (options) => new MemoryBackend(options),
});
