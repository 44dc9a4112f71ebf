import { randomBytes } from 'node:crypto';
import { describeFirstIssue } from '@execstream/stream-service';
import {
  createPublicClient,
  getAddress,
  type Hex,
  http,
  isAddress,
  isAddressEqual,
  type PublicClient,
  recoverMessageAddress,
} from 'viem';
import {
  createSiweMessage,
  generateSiweNonce,
  parseSiweMessage,
  type SiweMessage,
  validateSiweMessage,
} from 'viem/siwe';
import { z } from 'zod';
import { sha256Hex } from './api-keys.ts';
import type { CredentialResolver, Principal } from './credentials.ts';
import type { SessionRecord, WalletSessionStore } from './session-store.ts';

/** The cookie that carries a wallet session (CONTRACT §9). */
export const SESSION_COOKIE = 'execstream_session';

/** How long a challenge's nonce, and the message built around it, may be used (CONTRACT §9). */
export const SIWE_NONCE_TTL_MS = 5 * 60_000;

/** Bounds of what `verify` reads; longer input is refused unread (400). */
export const SIWE_LIMITS = {
  /** An EIP-4361 message; ours are about 400. */
  messageChars: 4096,
  /** A signature: 65 bytes from an EOA; an ERC-1271 or ERC-6492 one (factory calldata) more. */
  signatureBytes: 8192,
} as const;

const SESSION_TOKEN_PREFIX = 'ess_';
const SESSION_TOKEN_PATTERN = /^ess_[A-Za-z0-9_-]{43}$/;
const STATEMENT = 'Sign in to execstream.';

/**
 * A refusal of the sign-in routes, in CONTRACT §7 terms: 400 for input that is not what the
 * route reads, 401 for a sign-in that does not prove the address, 503 when a contract wallet's
 * signature could not be checked (the RPC node did not answer).
 */
export class WalletAuthError extends Error {
  override name = 'WalletAuthError';

  constructor(
    readonly status: 400 | 401 | 503,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const AddressSchema = z
  .string()
  .refine(
    (value) => isAddress(value),
    'must be a 0x-prefixed 20-byte address (EIP-55 if mixed-case)',
  );

/** The body of `POST /v1/auth/siwe/challenge`. */
export const SiweChallengeInputSchema = z.strictObject({
  address: AddressSchema,
  chainId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

/** The body of `POST /v1/auth/siwe/verify`. */
export const SiweVerifyInputSchema = z.strictObject({
  message: z.string().min(1).max(SIWE_LIMITS.messageChars),
  signature: z
    .string()
    .max(2 + 2 * SIWE_LIMITS.signatureBytes)
    .regex(/^0x(?:[0-9a-fA-F]{2})+$/, 'must be 0x-prefixed hex bytes'),
});

function parseInput<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new WalletAuthError(400, 'BAD_REQUEST', describeFirstIssue(parsed.error));
}

export interface WalletSessionsOptions {
  store: WalletSessionStore;
  /**
   * The server's public origin (`EXECSTREAM_PUBLIC_URL`, e.g. `https://api.example.com`): the
   * domain and URI of every message. Read per call: it may be known only once the server listens.
   */
  publicOrigin: () => string;
  sessionTtlMs: number;
  /**
   * A JSON-RPC endpoint of the chain contract wallets live on: ERC-1271 and ERC-6492 signatures
   * are checked there (`eth_call`). Without it only EOA signatures are accepted, offline.
   */
  rpcUrl?: string | null;
  /** @default SIWE_NONCE_TTL_MS */
  nonceTtlMs?: number;
}

export interface SiweChallenge {
  /** The whole EIP-4361 message to sign. */
  message: string;
  nonce: string;
  expiresAt: string;
}

/**
 * Sign-In with Ethereum (EIP-4361) wallet sessions (CONTRACT §9): challenges with single-use
 * nonces, verification, sessions kept by the hash of their token, logout, and the credential
 * resolver that reads the session cookie on every surface.
 */
export class WalletSessions {
  readonly #store: WalletSessionStore;
  readonly #publicOrigin: () => string;
  readonly #sessionTtlMs: number;
  readonly #nonceTtlMs: number;
  readonly #rpc: { client: PublicClient; chainId: Promise<number> | null } | null;

  constructor(options: WalletSessionsOptions) {
    this.#store = options.store;
    this.#publicOrigin = options.publicOrigin;
    this.#sessionTtlMs = options.sessionTtlMs;
    this.#nonceTtlMs = options.nonceTtlMs ?? SIWE_NONCE_TTL_MS;
    this.#rpc = options.rpcUrl
      ? {
          client: createPublicClient({
            transport: http(options.rpcUrl, { timeout: 10_000, retryCount: 1 }),
          }),
          chainId: null,
        }
      : null;
  }

  /** `{address, chainId}` → the message to sign, its nonce and when both expire. */
  async challenge(body: unknown): Promise<SiweChallenge> {
    const { address, chainId } = parseInput(SiweChallengeInputSchema, body);
    const origin = new URL(this.#publicOrigin());
    const nonce = generateSiweNonce();
    const issuedAt = new Date();
    const expirationTime = new Date(issuedAt.getTime() + this.#nonceTtlMs);
    const message = createSiweMessage({
      domain: origin.host,
      address: getAddress(address),
      statement: STATEMENT,
      uri: origin.origin,
      version: '1',
      chainId,
      nonce,
      issuedAt,
      expirationTime,
    });
    await this.#store.putNonce(
      nonce,
      { address: address.toLowerCase(), chainId },
      this.#nonceTtlMs,
    );
    return { message, nonce, expiresAt: expirationTime.toISOString() };
  }

  /**
   * `{message, signature}` → a new session and its token (for the cookie). Every check runs
   * before anything changes; the nonce is used last, atomically, so a refused sign-in stores
   * nothing and uses nothing, and of two racing with one nonce exactly one gets a session.
   * @throws WalletAuthError
   */
  async verify(body: unknown): Promise<{ token: string; session: SessionRecord }> {
    const { message, signature } = parseInput(SiweVerifyInputSchema, body);
    const fields = completeFields(parseSiweMessage(message));
    const origin = new URL(this.#publicOrigin());
    if (fields.domain !== origin.host || !isOriginUri(fields.uri, origin.origin)) {
      throw new WalletAuthError(
        401,
        'SIWE_DOMAIN_MISMATCH',
        `The message is for ${fields.domain} (${fields.uri}); sign in to ${origin.host} (${origin.origin})`,
      );
    }
    if (fields.scheme !== undefined && `${fields.scheme}:` !== origin.protocol) {
      throw new WalletAuthError(401, 'SIWE_DOMAIN_MISMATCH', `The message is for ${fields.scheme}`);
    }
    const now = new Date();
    if (!validateSiweMessage({ message: fields, domain: origin.host, time: now })) {
      // Domain, nonce, version and address are checked above: what is left is time.
      throw fields.notBefore && now < fields.notBefore
        ? new WalletAuthError(401, 'SIWE_MESSAGE_NOT_YET_VALID', 'The message is not valid yet')
        : new WalletAuthError(
            401,
            'SIWE_MESSAGE_EXPIRED',
            'The message has expired: ask for a new challenge',
          );
    }
    const issued = await this.#store.peekNonce(fields.nonce);
    if (
      !issued ||
      issued.address !== fields.address.toLowerCase() ||
      issued.chainId !== fields.chainId
    ) {
      throw nonceRefused();
    }
    if (!(await this.#signatureProves(message, fields, signature as Hex, now))) {
      throw new WalletAuthError(
        401,
        'SIWE_SIGNATURE_INVALID',
        `The signature is not ${fields.address}'s signature of the message`,
      );
    }
    if (!(await this.#store.takeNonce(fields.nonce))) throw nonceRefused();

    const token = `${SESSION_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const hash = sha256Hex(token);
    const address = fields.address.toLowerCase();
    const session: SessionRecord = {
      id: `ses_${hash.slice(0, 16)}`,
      ownerId: walletOwnerId(address),
      address,
      chainId: fields.chainId,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.#sessionTtlMs).toISOString(),
    };
    await this.#store.putSession(hash, session, this.#sessionTtlMs);
    return { token, session };
  }

  /** Revokes the session of a token, on every instance sharing the store; false if none. */
  async logout(token: string): Promise<boolean> {
    if (!SESSION_TOKEN_PATTERN.test(token)) return false;
    return this.#store.revokeSession(sha256Hex(token));
  }

  /**
   * The session cookie, on every surface. No cookie is `absent`; two cookies of the name (which
   * one would win is the browser's choice, and a sibling site may have planted one), a malformed
   * token, and an unknown, revoked or expired session are `invalid`.
   */
  readonly resolver: CredentialResolver = {
    resolve: async ({ cookies }) => {
      const values = cookies?.(SESSION_COOKIE) ?? [];
      if (values.length === 0) return { status: 'absent' };
      const [token] = values;
      if (values.length > 1 || token === undefined || !SESSION_TOKEN_PATTERN.test(token)) {
        return { status: 'invalid' };
      }
      const record = await this.#store.lookupSession(sha256Hex(token));
      if (!record || Date.parse(record.expiresAt) <= Date.now()) return { status: 'invalid' };
      return { status: 'valid', principal: sessionPrincipal(record) };
    },
  };

  /**
   * An EOA's signature is checked offline (ecrecover). Anything else is a contract wallet's
   * (ERC-1271, or ERC-6492 before deployment), checked with `verifySiweMessage` on the RPC node,
   * when there is one and it serves the message's chain.
   */
  async #signatureProves(
    message: string,
    fields: CompleteSiweFields,
    signature: Hex,
    time: Date,
  ): Promise<boolean> {
    try {
      const recovered = await recoverMessageAddress({ message, signature });
      if (isAddressEqual(recovered, fields.address)) return true;
    } catch {
      // Not a 65-byte ECDSA signature: perhaps a contract wallet's.
    }
    const rpc = this.#rpc;
    if (!rpc) return false;
    try {
      rpc.chainId ??= rpc.client.getChainId();
      const chainId = await rpc.chainId.catch((error: unknown) => {
        rpc.chainId = null;
        throw error;
      });
      if (chainId !== fields.chainId) return false;
      return await rpc.client.verifySiweMessage({
        message,
        signature,
        address: fields.address,
        domain: fields.domain,
        nonce: fields.nonce,
        time,
      });
    } catch (error) {
      throw new WalletAuthError(
        503,
        'SIGNATURE_CHECK_UNAVAILABLE',
        "The contract wallet's signature could not be checked: the chain's RPC node did not answer; retry",
        { cause: error },
      );
    }
  }
}

/** The owner id of a wallet: `wallet:<lowercase address>` (CONTRACT §9). */
export function walletOwnerId(address: string): string {
  return `wallet:${address.toLowerCase()}`;
}

export function sessionPrincipal(record: SessionRecord): Principal {
  return {
    ownerId: record.ownerId,
    credential: 'wallet-session',
    credentialId: record.id,
    address: record.address,
    chainId: record.chainId,
    expiresAt: record.expiresAt,
  };
}

function nonceRefused(): WalletAuthError {
  return new WalletAuthError(
    401,
    'SIWE_NONCE_INVALID',
    'The nonce is unknown, used, expired, or was issued for another address or chain: ask for a new challenge',
  );
}

type CompleteSiweFields = SiweMessage & { notBefore?: Date };

/** The fields of an EIP-4361 message with all it requires, or a 400. */
function completeFields(fields: ReturnType<typeof parseSiweMessage>): CompleteSiweFields {
  const missing = (
    ['domain', 'address', 'uri', 'version', 'chainId', 'nonce', 'issuedAt'] as const
  ).filter((name) => fields[name] === undefined);
  const invalid = (['issuedAt', 'expirationTime', 'notBefore'] as const).filter((name) => {
    const date = fields[name];
    return date !== undefined && Number.isNaN(date.getTime());
  });
  const problem =
    missing.length > 0
      ? `it has no ${missing.join(', ')}`
      : invalid.length > 0
        ? `${invalid.join(', ')} is not an RFC 3339 date-time`
        : fields.version !== '1'
          ? 'its version must be 1'
          : !/^[A-Za-z0-9]{8,}$/.test(fields.nonce ?? '')
            ? 'its nonce must be at least 8 letters or digits'
            : null;
  if (problem) {
    throw new WalletAuthError(
      400,
      'SIWE_MESSAGE_INVALID',
      `message: not an EIP-4361 message: ${problem}`,
    );
  }
  return fields as CompleteSiweFields;
}

/** The URI of a message for this origin: the origin itself, with or without a final slash. */
function isOriginUri(uri: string, origin: string): boolean {
  return uri === origin || uri === `${origin}/`;
}
