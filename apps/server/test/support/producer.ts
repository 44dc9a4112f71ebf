import { PRODUCER } from './server.ts';

export interface ProducerAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body; `null` for an empty one (204). */
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer read by path in assertions
  body: any;
}

/** One producer API call with the test producer key (or `key`), JSON in and out. */
export async function producerCall(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  key: string | null = PRODUCER.key,
): Promise<ProducerAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { 'X-API-KEY': key }),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  };
}
