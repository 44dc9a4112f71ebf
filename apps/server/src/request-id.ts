import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { scrubSecrets } from './scrub.ts';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request headers that carry a credential. */
const CREDENTIAL_HEADERS = ['x-api-key', 'authorization', 'cookie'] as const;

/**
 * A caller's `X-Request-Id` when it is sane (so traces join up across proxies), else a new one.
 * The id is logged with every line of the request: one shaped like a credential, or found among
 * the request's own credentials (its key sent twice, by mistake or to see what the logs keep),
 * is replaced like every other credential a log line could hold.
 */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  if (typeof incoming !== 'string' || !INCOMING_ID.test(incoming)) return randomUUID();
  return carriesCredential(req, incoming) ? randomUUID() : incoming;
}

function carriesCredential(req: IncomingMessage, id: string): boolean {
  if (scrubSecrets(id) !== id) return true;
  for (const name of CREDENTIAL_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string' && value.includes(id)) return true;
  }
  // The query may carry one too (`?apiKey=`, tRPC's `connectionParams`).
  const url = req.url ?? '';
  const query = url.indexOf('?');
  return query >= 0 && safeDecode(url.slice(query)).includes(id);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
