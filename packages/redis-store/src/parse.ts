import { type Envelope, rememberEnvelopeText } from '@execstream/event-schema';

/**
 * An envelope stored (or published) as `serializeEnvelope` wrote it, parsed, with that text kept
 * as its serialisation: what is delivered is the stored text, never a re-serialisation.
 */
export function parseEnvelope(text: string): Envelope {
  return rememberEnvelopeText(JSON.parse(text) as Envelope, text);
}
