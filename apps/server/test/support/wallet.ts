import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { type RawResponse, rawRequest } from './http.ts';

/** A wallet of its own: a real secp256k1 key, signing EIP-191 messages as a wallet does. */
export function newWallet(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}

/** `POST` of a JSON body, answered as it comes. */
export function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(baseUrl, {
    method: 'POST',
    path,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export interface Challenge {
  message: string;
  nonce: string;
  expiresAt: string;
}

export async function challenge(baseUrl: string, address: string, chainId = 1): Promise<Challenge> {
  const res = await postJson(baseUrl, '/v1/auth/siwe/challenge', { address, chainId });
  if (res.status !== 200) throw new Error(`challenge: ${res.status} ${res.body}`);
  return JSON.parse(res.body);
}

/** The `name=value` of a response's `Set-Cookie`, to send back as a `Cookie` header. */
export function cookieOf(res: RawResponse): string {
  const [setCookie] = [res.headers['set-cookie'] ?? []].flat();
  if (!setCookie) throw new Error(`no Set-Cookie: ${res.status} ${res.body}`);
  return setCookie.split(';')[0] as string;
}

/** Signs in with a wallet: challenge, sign, verify. Resolves with the session cookie. */
export async function signIn(
  baseUrl: string,
  wallet: PrivateKeyAccount,
): Promise<{ cookie: string; ownerId: string }> {
  const { message } = await challenge(baseUrl, wallet.address);
  const signature = await wallet.signMessage({ message });
  const res = await postJson(baseUrl, '/v1/auth/siwe/verify', { message, signature });
  if (res.status !== 200) throw new Error(`verify: ${res.status} ${res.body}`);
  return { cookie: cookieOf(res), ownerId: `wallet:${wallet.address.toLowerCase()}` };
}
