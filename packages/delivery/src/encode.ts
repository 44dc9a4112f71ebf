import { type Envelope, envelopeText } from '@execstream/event-schema';

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
      frame = Buffer.from(encode(envelope, envelopeText(envelope)), 'utf8');
      frames.set(envelope, frame);
    }
    return frame;
  };
}
