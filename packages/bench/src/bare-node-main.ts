/**
 * The bare Node broadcaster (`bare-node.ts`) as a process of its own, as the benchmark runs it:
 * on loopback, `PORT` or a free port, announcing its URL in a JSON log line as the execstream
 * server does (`{"msg":"listening","url":…}`). SIGTERM ends it at once, open streams and all.
 */
import { createBareNodeServer } from './bare-node.ts';

const server = createBareNodeServer();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}` }));
});
