import { request } from 'node:http';
import { SseDecoder, type SseMessage } from '@execstream/event-schema';

export interface SseRead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body text, for byte-level assertions. */
  text: string;
  messages: SseMessage[];
}

/**
 * Reads an SSE response to its end (or until `until` says stop) with a raw HTTP request, so the
 * bytes on the wire are what the assertions see.
 */
export function readSse(
  url: string,
  headers: Record<string, string>,
  options: {
    until?: (messages: SseMessage[]) => boolean;
    onMessage?: (message: SseMessage) => void;
  } = {},
): Promise<SseRead> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const decoder = new SseDecoder();
      const messages: SseMessage[] = [];
      let text = '';
      const finish = () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, messages });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        for (const message of decoder.push(chunk)) {
          messages.push(message);
          options.onMessage?.(message);
        }
        if (options.until?.(messages)) {
          res.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `data:` of the events of an SSE read, without tRPC's control events. */
export function eventData(read: SseRead): string[] {
  return read.messages
    .filter(
      (message) =>
        message.event !== 'connected' && message.event !== 'ping' && message.event !== 'return',
    )
    .map((message) => message.data);
}
