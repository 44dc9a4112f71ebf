/**
 * Credentials that can reach a log line inside a URL or a message: the query parameters that
 * carry them (tRPC's `connectionParams`, which holds `apiKey` for browsers' EventSource), JSON
 * members named like a credential, and anything shaped like a generated API key or session token.
 */
const SECRET_QUERY = /([?&](?:connectionParams|apiKey|api_key|token|key)=)[^&#\s]*/gi;
const SECRET_MEMBER = /("(?:apiKey|api_key|token|key|x-api-key)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
// API keys (`esk_…`) and wallet-session tokens (`ess_…`).
const GENERATED_SECRET = /(esk|ess)_[A-Za-z0-9_-]{6,}/g;

/** `text` with every credential it may hold replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  return text
    .replace(SECRET_QUERY, '$1[redacted]')
    .replace(SECRET_MEMBER, '$1"[redacted]"')
    .replace(GENERATED_SECRET, '$1_[redacted]');
}
