/**
 * Server-sent events framing (WHATWG HTML §9.2), shared by the SSE route that writes frames and
 * the clients and tests that read them.
 */

export interface SseMessage {
  /** The `id` in force when the message was dispatched (the last one seen, as in the spec). */
  lastEventId: string;
  /** The `event` field, `"message"` when absent. */
  event: string;
  data: string;
}

/** A comment frame that keeps idle connections (and the proxies between) from timing out. */
export const SSE_PING_FRAME = ': ping\n\n';

/** One event frame: `id`, `event`, then the data, one `data:` line per line of it. */
export function encodeSseFrame(frame: { id?: string; event?: string; data: string }): string {
  let text = '';
  if (frame.id !== undefined) text += `id: ${assertSingleLine('id', frame.id)}\n`;
  if (frame.event !== undefined) text += `event: ${assertSingleLine('event', frame.event)}\n`;
  for (const line of frame.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return `${text}\n`;
}

/**
 * A frame that only sets the client's reconnection delay. Sent alone as the first frame, the
 * client has it before any event, even when the first event is slow to come (CONTRACT §5).
 */
export function encodeSseRetry(retryMs: number): string {
  if (!Number.isInteger(retryMs) || retryMs < 0) {
    throw new RangeError(
      `SSE retry must be a non-negative integer of milliseconds, got ${retryMs}`,
    );
  }
  return `retry: ${retryMs}\n\n`;
}

function assertSingleLine(field: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new TypeError(`SSE ${field} must be a single line`);
  return value;
}

/**
 * An incremental, spec-compliant SSE parser: feed it chunks as they arrive (split anywhere, even
 * inside a CRLF) and it returns the messages each chunk completed.
 */
export class SseDecoder {
  #buffer = '';
  #pendingCarriageReturn = false;
  #sawFirstChunk = false;
  #data: string[] = [];
  #event = '';
  #lastEventId = '';
  #retryMs: number | undefined;

  /** The reconnection time from the last valid `retry:` field, if any. */
  get retryMs(): number | undefined {
    return this.#retryMs;
  }

  get lastEventId(): string {
    return this.#lastEventId;
  }

  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (!this.#sawFirstChunk) {
      this.#sawFirstChunk = text.length > 0;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    // A CR that ended the previous chunk already ended its line; a LF right after it is its pair.
    if (this.#pendingCarriageReturn && text.startsWith('\n')) text = text.slice(1);
    this.#pendingCarriageReturn = false;

    this.#buffer += text;
    const messages: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      // A lone CR at the very end may be the first half of a CRLF split across chunks.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) {
        this.#pendingCarriageReturn = true;
      }
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const message = this.#processLine(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  #processLine(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retryMs = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const hasData = this.#data.length > 0;
    const message = {
      lastEventId: this.#lastEventId,
      event: this.#event === '' ? 'message' : this.#event,
      data: this.#data.join('\n'),
    };
    this.#data = [];
    this.#event = '';
    return hasData ? message : undefined;
  }
}
