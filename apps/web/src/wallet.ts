import { createWalletClient, custom, type EIP1193Provider } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

/** A wallet that can sign the server's Sign-In with Ethereum message. */
export interface Signer {
  kind: 'demo' | 'injected';
  address: `0x${string}`;
  chainId: number;
  signMessage(message: string): Promise<`0x${string}`>;
}

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

const DEMO_KEY = 'execstream:demo-wallet';

/** Whether the server runs the demo (its HTML shell says so), or this is Vite's dev server. */
export function demoEnabled(): boolean {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="execstream-demo"]');
  return meta ? meta.content === 'on' : import.meta.env.DEV;
}

export function hasInjectedWallet(): boolean {
  return window.ethereum !== undefined;
}

/**
 * The tab's demo wallet: a viem local account whose key lives in sessionStorage, so a reload
 * keeps the same wallet (and its executions) and another tab gets a wallet of its own.
 */
export function demoWallet(): Signer {
  let key = sessionStorage.getItem(DEMO_KEY) as `0x${string}` | null;
  if (!key) {
    key = generatePrivateKey();
    sessionStorage.setItem(DEMO_KEY, key);
  }
  const account = privateKeyToAccount(key);
  return {
    kind: 'demo',
    address: account.address,
    chainId: 1,
    signMessage: (message) => account.signMessage({ message }),
  };
}

/** The browser's wallet (EIP-1193), after the user allows this site an account. */
export async function injectedWallet(): Promise<Signer> {
  const provider = window.ethereum;
  if (!provider) throw new Error('No wallet found in this browser');
  const client = createWalletClient({ transport: custom(provider) });
  const [address] = await client.requestAddresses();
  if (!address) throw new Error('The wallet shared no account');
  const chainId = await client.getChainId();
  return {
    kind: 'injected',
    address,
    chainId,
    signMessage: (message) => client.signMessage({ account: address, message }),
  };
}

/** The caller the session cookie stands for (`GET /v1/auth/session`). */
export interface Session {
  ownerId: string;
  address?: string;
  expiresAt?: string;
}

async function postJson(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function errorOf(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  return new Error(body?.error?.message ?? `The server answered ${res.status}`);
}

/** The current session, null when signed out. */
export async function readSession(): Promise<Session | null> {
  const res = await fetch('/v1/auth/session');
  if (res.status === 401) return null;
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as Session;
}

/** Sign-In with Ethereum: the server's challenge, signed by the wallet, verified (sets the cookie). */
export async function signIn(signer: Signer): Promise<Session> {
  const challenge = await postJson('/v1/auth/siwe/challenge', {
    address: signer.address,
    chainId: signer.chainId,
  });
  if (!challenge.ok) throw await errorOf(challenge);
  const { message } = (await challenge.json()) as { message: string };
  const signature = await signer.signMessage(message);
  const verified = await postJson('/v1/auth/siwe/verify', { message, signature });
  if (!verified.ok) throw await errorOf(verified);
  const session = await readSession();
  if (!session) throw new Error('Signed in, but the session was not kept');
  return session;
}

export async function signOut(): Promise<void> {
  const res = await fetch('/v1/auth/logout', { method: 'POST' });
  if (!res.ok && res.status !== 401) throw await errorOf(res);
}
