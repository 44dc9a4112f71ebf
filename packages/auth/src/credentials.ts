import type { IncomingHttpHeaders } from 'node:http';
import { hashApiKey, isWellFormedApiKey } from './api-keys.ts';
import type { ApiKeyStore } from './key-store.ts';

/**
 * Who is calling. Every read and write is scoped to `ownerId` (CONTRACT §7). `credential` says
 * how they proved it: an API key, or a wallet session (Sign-In with Ethereum) whose owner is
 * `wallet:<lowercase address>`. The surfaces only ever see a `Principal`.
 */
export type Principal =
  | {
      ownerId: string;
      credential: 'api-key';
      /** The public id of the credential, for logs. */
      credentialId: string;
    }
  | {
      /**
       * The producer key's name. Not an owner: a producer key is accepted on `/v1/producer/*`
       * alone (CONTRACT §12), where it acts for the owners its requests name.
       */
      ownerId: string;
      credential: 'producer-key';
      credentialId: string;
    }
  | {
      ownerId: string;
      credential: 'wallet-session';
      /** `ses_…`: the public id of the session, for logs. */
      credentialId: string;
      /** Lowercase `0x…` address. */
      address: string;
      chainId: number;
      /** When the session ends (ISO 8601). */
      expiresAt: string;
    };

/**
 * What one credential scheme found in a request: nothing of its own (`absent`), something of
 * its own that does not authenticate (`invalid`), or a principal.
 */
export type CredentialResult =
  | { status: 'absent' }
  | { status: 'invalid' }
  | { status: 'valid'; principal: Principal };

/** What a request offers to prove who is calling. */
export interface CredentialSource {
  headers: IncomingHttpHeaders;
  /**
   * tRPC's `connectionParams`, which `httpSubscriptionLink` sends in the URL: the one way a
   * browser's EventSource, which cannot set headers, can carry a credential. `null` or absent
   * when none were sent.
   */
  connectionParams?: Readonly<Record<string, string | undefined>> | null;
  /**
   * Every value the request's `Cookie` header holds for a cookie name, in order, as the server's
   * cookie parser reads them: two when a browser holds two cookies of that name that match the
   * request (say, set for two paths), none when there is no such cookie.
   */
  cookies?: (name: string) => string[];
}

/** One credential scheme: API keys here, wallet sessions in `wallet-sessions.ts`. */
export interface CredentialResolver {
  resolve(source: CredentialSource): Promise<CredentialResult>;
}

export const API_KEY_HEADER = 'x-api-key';

/** The connection parameter that carries an API key: `connectionParams: { apiKey: 'esk_…' }`. */
export const API_KEY_CONNECTION_PARAM = 'apiKey';

/**
 * `X-API-KEY`, else `connectionParams.apiKey`, looked up by hash in each store in turn
 * (bootstrap keys, then the shared store). The header wins: when it is present the connection
 * parameter is not looked at, so a wrong header is never rescued by a right parameter.
 */
export function apiKeyResolver(stores: readonly ApiKeyStore[]): CredentialResolver {
  return {
    async resolve({ headers, connectionParams }) {
      const raw = headers[API_KEY_HEADER] ?? connectionParams?.[API_KEY_CONNECTION_PARAM];
      if (raw === undefined) return { status: 'absent' };
      // A repeated header is ambiguous: refuse it rather than pick one.
      if (Array.isArray(raw) || !isWellFormedApiKey(raw)) return { status: 'invalid' };
      const hash = hashApiKey(raw);
      for (const store of stores) {
        const record = await store.lookup(hash);
        if (record) {
          const credential = record.role === 'producer' ? 'producer-key' : 'api-key';
          return {
            status: 'valid',
            principal: { ownerId: record.ownerId, credential, credentialId: record.id },
          };
        }
      }
      return { status: 'invalid' };
    },
  };
}

/** Resolves the caller of a request; `null` means 401 on every surface. */
export type Authenticate = (source: CredentialSource) => Promise<Principal | null>;

/**
 * The one authentication module of every surface. A request is authenticated when some scheme
 * recognises it and none rejects it: a wrong credential is never outvoted by a right one.
 */
export function createAuthenticator(resolvers: readonly CredentialResolver[]): Authenticate {
  return async (source) => {
    let principal: Principal | null = null;
    for (const resolver of resolvers) {
      const result = await resolver.resolve(source);
      if (result.status === 'invalid') return null;
      if (result.status === 'valid') principal ??= result.principal;
    }
    return principal;
  };
}
