import { type Envelope, serializeEnvelope } from '@execstream/event-schema';

const serialized = new WeakMap<Envelope, string>();

/**
 * `serializeEnvelope(envelope)`, computed once per envelope object. Every reader of a live event
 * in this process holds the very object the store's notification carried (the live hub parses a
 * batch once for all its listeners), so the first reader pays and the others share the text.
 */
export function dataOf(envelope: Envelope): string {
  let data = serialized.get(envelope);
  if (data === undefined) {
    data = serializeEnvelope(envelope);
    serialized.set(envelope, data);
  }
  return data;
}

/**
 * A surface's frame of an event, encoded once per event object and shared, as the same bytes,
 * by every reader of that surface: per reader per event there is a write and nothing else.
 */
export function frameCache(
  encode: (envelope: Envelope, data: string) => string,
): (envelope: Envelope) => Buffer {
  const frames = new WeakMap<Envelope, Buffer>();
  return (envelope) => {
    let frame = frames.get(envelope);
    if (frame === undefined) {
      frame = Buffer.from(encode(envelope, dataOf(envelope)), 'utf8');
      frames.set(envelope, frame);
    }
    return frame;
  };
}
