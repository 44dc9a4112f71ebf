import { SESSION_COOKIE, SiweChallengeInputSchema, SiweVerifyInputSchema } from '@execstream/auth';
import {
  BAD_HOST,
  errorResponse,
  jsonResponse,
  jsonSchema,
  type OpenApiGroup,
  ref,
} from './shared.ts';

const datetime = { type: 'string', format: 'date-time' };

const SIGN_IN_ERRORS = {
  '400': errorResponse('A body that is not what the route reads (`BAD_REQUEST`), or a bad `Host`'),
  '413': errorResponse('Body over the route’s 32 KiB (`PAYLOAD_TOO_LARGE`)'),
  '415': errorResponse('A body that is not JSON (`UNSUPPORTED_MEDIA_TYPE`)'),
  '429': errorResponse('Too many challenges or failed checks (`RATE_LIMITED`)', {
    retryAfter: true,
  }),
};

/** Sign-In with Ethereum and the wallet session (CONTRACT §9). */
export function authGroup(): OpenApiGroup {
  return {
    tag: { name: 'auth', description: 'Sign-In with Ethereum (EIP-4361) and the wallet session' },
    schemas: {
      SiweChallengeInput: jsonSchema(SiweChallengeInputSchema, 'input'),
      SiweVerifyInput: jsonSchema(SiweVerifyInputSchema, 'input'),
      Caller: {
        description: 'The caller, by the credential it proved',
        oneOf: [
          {
            type: 'object',
            required: ['ownerId', 'credential'],
            properties: { ownerId: { type: 'string' }, credential: { const: 'api-key' } },
          },
          {
            type: 'object',
            required: ['ownerId', 'credential', 'address', 'chainId', 'expiresAt'],
            properties: {
              ownerId: { type: 'string', description: '`wallet:<lowercase address>`' },
              credential: { const: 'wallet-session' },
              address: { type: 'string' },
              chainId: { type: 'integer' },
              expiresAt: datetime,
            },
          },
        ],
      },
    },
    paths: {
      '/v1/auth/siwe/challenge': {
        post: {
          operationId: 'siweChallenge',
          tags: ['auth'],
          summary: 'The EIP-4361 message to sign, with a single-use nonce (5 minutes)',
          security: [],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('SiweChallengeInput') } },
          },
          responses: {
            '200': jsonResponse('The message to sign', {
              type: 'object',
              required: ['message', 'nonce', 'expiresAt'],
              properties: {
                message: { type: 'string' },
                nonce: { type: 'string' },
                expiresAt: datetime,
              },
            }),
            ...SIGN_IN_ERRORS,
          },
        },
      },
      '/v1/auth/siwe/verify': {
        post: {
          operationId: 'siweVerify',
          tags: ['auth'],
          summary: 'Verify the signed message; sets the session cookie',
          security: [],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('SiweVerifyInput') } },
          },
          responses: {
            '200': {
              ...jsonResponse('Signed in', {
                type: 'object',
                required: ['address', 'expiresAt'],
                properties: { address: { type: 'string' }, expiresAt: datetime },
              }),
              headers: {
                'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
                'Set-Cookie': {
                  description: `\`${SESSION_COOKIE}=<opaque>; HttpOnly; SameSite=Lax; Path=/\` (\`Secure\` on https)`,
                  schema: { type: 'string' },
                },
              },
            },
            '401': errorResponse(
              'The nonce is unknown, used or expired; the domain or URI differ; the message expired; or the signature does not recover the address',
            ),
            '503': errorResponse('A contract wallet’s signature could not be checked'),
            ...SIGN_IN_ERRORS,
          },
        },
      },
      '/v1/auth/session': {
        get: {
          operationId: 'authSession',
          tags: ['auth'],
          summary: 'The caller, whatever credential it proved',
          responses: {
            '200': jsonResponse('The caller', ref('Caller')),
            '400': BAD_HOST,
            '401': errorResponse('No valid credential (`UNAUTHORIZED`)'),
            '429': errorResponse('Too many failed checks (`RATE_LIMITED`)', { retryAfter: true }),
          },
        },
      },
      '/v1/auth/logout': {
        post: {
          operationId: 'authLogout',
          tags: ['auth'],
          summary: 'Revoke the cookie’s session, on every instance at once',
          security: [{ walletSession: [] }],
          responses: {
            '204': {
              description: 'Signed out; the cookie is cleared',
              headers: { 'Set-Cookie': { schema: { type: 'string' } } },
            },
            '400': BAD_HOST,
            '401': errorResponse('No wallet session to log out of (`UNAUTHORIZED`)'),
            '403': errorResponse('From an origin not allowed (`ORIGIN_NOT_ALLOWED`)'),
            '429': errorResponse('Too many failed checks (`RATE_LIMITED`)', { retryAfter: true }),
          },
        },
      },
    },
  };
}
