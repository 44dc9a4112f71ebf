import { serializeEnvelope } from '@execstream/event-schema';
import { ExecutionProducer } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { OWNER_A, startServerOn } from './support/server.ts';
import { eventData, readSse, type SseRead } from './support/sse.ts';
import { collectSubscription, trpcClient, trpcStreamUrl } from './support/trpc.ts';

const auth = { 'X-API-KEY': OWNER_A.key };

/** The three readers of one execution: raw SSE route, tRPC's bytes, and the real tRPC client. */
async function readAllSurfaces(
  baseUrl: string,
  operationId: string,
  cursor: string | null,
  afterFirstEvent: () => Promise<void> = async () => {},
) {
  const firsts: Promise<void>[] = [];
  const firstOf = () => {
    let resolve!: () => void;
    firsts.push(new Promise<void>((r) => (resolve = r)));
    return resolve;
  };
  const sseFirst = firstOf();
  const trpcRawFirst = firstOf();
  const clientFirst = firstOf();
  const sse = readSse(
    `${baseUrl}/v1/executions/${operationId}/stream`,
    cursor ? { ...auth, 'Last-Event-ID': cursor } : auth,
    { onMessage: sseFirst },
  );
  const trpcRaw = readSse(trpcStreamUrl(baseUrl, { operationId, lastEventId: cursor }), auth, {
    onMessage: (message) => {
      if (message.event === 'message') trpcRawFirst();
    },
  });
  const client = collectSubscription(
    trpcClient(baseUrl, OWNER_A.key),
    { operationId, lastEventId: cursor },
    clientFirst,
  );
  await Promise.all(firsts);
  await afterFirstEvent();
  return { sse: await sse, trpcRaw: await trpcRaw, client: await client };
}

function expectIdentical(result: Awaited<ReturnType<typeof readAllSurfaces>>): string[] {
  const { sse, trpcRaw, client } = result;
  expect(sse.status).toBe(200);
  expect(trpcRaw.status).toBe(200);
  expect(client.error).toBeNull();
  const sseData = eventData(sse);
  expect(sseData.length).toBeGreaterThan(0);
  // Byte-identical `data:` on both wires, in the same order, and through the real client.
  expect(eventData(trpcRaw)).toEqual(sseData);
  expect(client.events.map((envelope) => JSON.stringify(envelope))).toEqual(sseData);
  // Each frame's id is the envelope's cursor; on the raw route its event is the kind.
  for (const message of sse.messages) {
    const envelope = JSON.parse(message.data);
    expect(message.lastEventId).toBe(envelope.cursor);
    expect(message.event).toBe(envelope.kind);
    expect(serializeEnvelope(envelope)).toBe(message.data);
  }
  const trpcIds = trpcRaw.messages.filter((m) => m.event === 'message').map((m) => m.lastEventId);
  expect(trpcIds).toEqual(sse.messages.map((m) => m.lastEventId));
  return sseData;
}

function expectRetryFirst(read: SseRead): void {
  expect(read.text.startsWith('retry: ')).toBe(true);
}

describe.each(['memory', 'redis'] as const)(
  'parity of the raw SSE route and the tRPC subscription (%s)',
  (backend) => {
    const startTestServer = () => startServerOn(backend);

    it('sends the same bytes on a fresh connection: snapshot, then live events to the end', async () => {
      await using server = await startTestServer();
      const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
      const producer = await ExecutionProducer.attach(server.streams, record.operationId);
      await producer.start();
      await producer.timeline('Quote received', { step: 'quote', data: { price: '3200.5' } });

      const result = await readAllSurfaces(server.url, record.operationId, null, async () => {
        await producer.progress(40, { step: 'swap', message: 'Submitting' });
        await producer.timeline('Swap submitted onchain', { txHash: '0xabc', chainId: 8453 });
        await producer.retrying({ code: 'RPC_TIMEOUT', message: 'timed out' });
        await producer.start('Retrying');
        await producer.complete({ bought: '1.5 ETH' }, 'Swapped');
      });
      const data = expectIdentical(result);
      expectRetryFirst(result.sse);
      const kinds = data.map((text) => JSON.parse(text).kind);
      expect(kinds[0]).toBe('execution.snapshot');
      expect(kinds.at(-1)).toBe('execution.state_changed');
      expect(data.map((text) => JSON.parse(text).sequence)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('sends the same bytes on a resumed connection: every event after the cursor', async () => {
      await using server = await startTestServer();
      const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'bridge' });
      const producer = await ExecutionProducer.attach(server.streams, record.operationId);
      await producer.start();
      const [resumeFrom] = await producer.timeline('Route found');
      await producer.progress(50);
      await producer.fail({ code: 'RELAY_DOWN', message: 'The relayer is down' });

      const data = expectIdentical(
        await readAllSurfaces(server.url, record.operationId, resumeFrom?.cursor ?? null),
      );
      expect(data.map((text) => JSON.parse(text).kind)).toEqual([
        'execution.progress',
        'execution.error',
        'execution.state_changed',
      ]);
    });

    it('sends the same bytes on a resync: a snapshot for a cursor that is not an event', async () => {
      await using server = await startTestServer();
      const { record } = await server.streams.create({
        ownerId: OWNER_A.ownerId,
        type: 'withdraw',
      });
      const producer = await ExecutionProducer.attach(server.streams, record.operationId);
      await producer.start();
      await producer.timeline('Checking balance');

      const result = await readAllSurfaces(server.url, record.operationId, '1-0', async () => {
        await producer.cancel('Cancelled by test');
      });
      const data = expectIdentical(result);
      expect(data.map((text) => JSON.parse(text).kind)).toEqual([
        'execution.snapshot',
        'execution.state_changed',
      ]);
      expect(JSON.parse(data[0] as string).sequence).toBe(3);
    });
  },
);
