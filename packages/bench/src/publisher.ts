/**
 * The benchmark's publisher, in a process of its own so its timers never wait behind the
 * readers: it creates the executions (execstream) or names the channels (Nchan, bare Node), publishes
 * warm-up events on request, then publishes `rounds` events per execution at a fixed total rate,
 * open loop: each publish is due at its time whatever the readers do; one execution's events go
 * one after another (in order), different executions' concurrently. Each event's text carries
 * its round, the moment it was sent and the moment it was due (`eventTag`). Driven over IPC by `publisher-client.ts`.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createRedisExecutionStreams } from '@execstream/redis-store';
import { ExecutionProducer, type ExecutionStreams } from '@execstream/stream-service';
import { BARE_PUBLISH_PATH } from './bare-node.ts';
import { NCHAN_PUBLISH_PATH } from './nchan.ts';
import type { PublisherCommand, PublisherReply } from './publisher-client.ts';
import { BENCH_OWNER } from './server.ts';
import { eventTag, monotonicMs, WARM_TAG } from './sse-reader.ts';

/** Publishes one event's text to one execution (or channel). */
type Publish = (execution: number, round: number, text: string) => Promise<void>;

interface Target {
  ids: string[];
  publish: Publish;
  close(): Promise<void>;
}

async function execstreamTarget(redisUrl: string, executions: number): Promise<Target> {
  const streams: ExecutionStreams = await createRedisExecutionStreams({
    url: redisUrl,
    connectionName: 'execstream-bench-publisher',
  });
  const producers: ExecutionProducer[] = [];
  for (let index = 0; index < executions; index += 50) {
    const batch = Math.min(50, executions - index);
    const created = await Promise.all(
      Array.from({ length: batch }, async () => {
        const { record } = await streams.create({ ownerId: BENCH_OWNER, type: 'swap' });
        const producer = await ExecutionProducer.attach(streams, record.operationId);
        await producer.start();
        return producer;
      }),
    );
    producers.push(...created);
  }
  return {
    ids: producers.map((producer) => producer.operationId),
    publish: async (execution, round, text) => {
      await (producers[execution] as ExecutionProducer).progress(round % 100, { message: text });
    },
    close: () => streams.close(),
  };
}

/**
 * Nchan (and the bare Node floor, which takes Nchan's publish) publishes whatever body it is
 * given: the body is shaped and sized like an execstream progress envelope, so every server
 * carries the same bytes per event.
 */
function channelTarget(server: 'nchan' | 'bare', port: number, executions: number): Target {
  const publishPath = server === 'nchan' ? NCHAN_PUBLISH_PATH : BARE_PUBLISH_PATH;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const ids = Array.from({ length: executions }, () => `op_${randomUUID().replaceAll('-', '')}`);
  const publish: Publish = (execution, round, text) => {
    const operationId = ids[execution] as string;
    const body = JSON.stringify({
      operationId,
      type: 'swap',
      sequence: round + 3,
      kind: 'execution.progress',
      ts: new Date().toISOString(),
      cursor: `${Date.now()}-${round + 3}`,
      payload: { percent: round % 100, message: text },
    });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `${publishPath}${operationId}`,
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 201 || res.statusCode === 202
              ? resolve()
              : reject(new Error(`${server} answered a publish with ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
  return { ids, publish, close: async () => agent.destroy() };
}

/** Publishes `rounds` events to every execution at `ratePerSecond` in total; see the file's note. */
async function publishAtRate(target: Target, rounds: number, ratePerSecond: number) {
  const executions = target.ids.length;
  const start = monotonicMs();
  let last = start;
  await Promise.all(
    target.ids.map(async (_, execution) => {
      for (let round = 0; round < rounds; round++) {
        const due = start + ((round * executions + execution) * 1000) / ratePerSecond;
        const wait = due - monotonicMs();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await target.publish(execution, round, eventTag(round, due));
        last = Math.max(last, monotonicMs());
      }
    }),
  );
  return { published: rounds * executions, elapsedMs: last - start };
}

let target: Target | null = null;
const reply = (message: PublisherReply) => process.send?.(message);

process.on('message', (command: PublisherCommand) => {
  const handle = async (): Promise<PublisherReply> => {
    switch (command.type) {
      case 'setup':
        target =
          command.server === 'execstream'
            ? await execstreamTarget(command.redisUrl, command.executions)
            : channelTarget(command.server, command.port as number, command.executions);
        return { type: 'ready', ids: target.ids };
      case 'warm': {
        const current = target as Target;
        await Promise.all(
          current.ids.map(async (_, execution) => {
            for (let round = 0; round < command.count; round++) {
              await current.publish(execution, round, `${WARM_TAG}${monotonicMs().toFixed(3)}`);
            }
          }),
        );
        return { type: 'warmed' };
      }
      case 'run':
        return {
          type: 'done',
          ...(await publishAtRate(target as Target, command.rounds, command.ratePerSecond)),
        };
      case 'close':
        await target?.close();
        return { type: 'closed' };
    }
  };
  handle().then(reply, (error: unknown) =>
    reply({
      type: 'error',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    }),
  );
});
