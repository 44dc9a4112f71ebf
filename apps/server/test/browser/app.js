// A web app's use of execstream from another origin, as the browser test drives it: plain
// JavaScript, bundled with @trpc/client by esbuild and served by the test's static server.
// `window.sign(message)` stands for the wallet (the test exposes a viem local account there).
import { EVENT_KINDS } from '@execstream/event-schema';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';

/** fetch with the session cookie, across origins. */
const withCookie = (input, init) => fetch(input, { ...init, credentials: 'include' });

async function postJson(api, path, body) {
  const res = await withCookie(`${api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function client(api) {
  return createTRPCClient({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${api}/v1/trpc`,
          eventSourceOptions: { withCredentials: true },
        }),
        false: httpLink({ url: `${api}/v1/trpc`, fetch: withCookie }),
      }),
    ],
  });
}

/** Sign-In with Ethereum: challenge, the wallet signs, verify (which sets the cookie), session. */
async function signIn(api, address) {
  const challenge = await postJson(api, '/v1/auth/siwe/challenge', { address, chainId: 1 });
  const signature = await window.sign(challenge.body.message);
  const verified = await postJson(api, '/v1/auth/siwe/verify', {
    message: challenge.body.message,
    signature,
  });
  const session = await withCookie(`${api}/v1/auth/session`);
  return { verified, session: { status: session.status, body: await session.json() } };
}

async function submit(api, params) {
  const { operationId } = await client(api).v2.executions.submit.mutate({ type: 'swap', params });
  return operationId;
}

async function list(api) {
  return (await client(api).v2.executions.list.query()).items.map((item) => item.operationId);
}

/**
 * Follows a run on the raw route with a native EventSource (the cookie is its only credential),
 * into `state`; `done` once the server's 204 has closed it for good.
 */
function followSse(api, operationId, lastEventId, state) {
  const query = lastEventId ? `?lastEventId=${lastEventId}` : '';
  const source = new EventSource(`${api}/v1/executions/${operationId}/stream${query}`, {
    withCredentials: true,
  });
  for (const kind of EVENT_KINDS) {
    source.addEventListener(kind, (event) => {
      state.events.push({ id: event.lastEventId, data: event.data });
    });
  }
  source.addEventListener('error', () => {
    state.errors++;
    if (source.readyState === EventSource.CLOSED) state.done = true;
  });
}

/** Follows a run with tRPC's httpSubscriptionLink (an EventSource with credentials), into `state`. */
function followTrpc(api, operationId, state) {
  client(api).v2.executions.stream.subscribe(
    { operationId },
    {
      onData: (tracked) => {
        state.events.push({ id: tracked.id, data: JSON.stringify(tracked.data) });
      },
      onError: (error) => {
        state.error = String(error);
        state.done = true;
      },
      onComplete: () => {
        state.done = true;
      },
    },
  );
}

const newState = () => ({ events: [], errors: 0, done: false, error: null });

window.app = {
  signIn,
  submit,
  list,
  /** Starts both followers; the test reads `window.follow` as they go. */
  follow(api, operationId) {
    window.follow = { sse: newState(), trpc: newState() };
    followSse(api, operationId, null, window.follow.sse);
    followTrpc(api, operationId, window.follow.trpc);
  },
  /** The raw route from a cursor given as `?lastEventId=`, to its end. */
  resume(api, operationId, lastEventId) {
    window.resumed = newState();
    followSse(api, operationId, lastEventId, window.resumed);
  },
  /** What a page from an origin the server does not list can do with the same cookie. */
  async probe(api, operationId) {
    const outcome = {};
    try {
      const res = await withCookie(`${api}/v1/auth/session`);
      outcome.session = `read ${res.status}`;
    } catch (error) {
      outcome.session = error.name;
    }
    try {
      await client(api).v2.executions.list.query();
      outcome.list = 'read';
    } catch (error) {
      outcome.list = error.name;
    }
    // A form's POST (multipart/form-data, which tRPC reads) needs no preflight: the browser sends
    // it, cookie and all, and only hides the answer. The server must refuse it itself; logout too.
    const form = new FormData();
    form.set('type', 'swap');
    const blind = await fetch(`${api}/v1/trpc/v2.executions.submit`, {
      method: 'POST',
      mode: 'no-cors',
      credentials: 'include',
      body: form,
    });
    outcome.blindSubmit = blind.type;
    const logout = await fetch(`${api}/v1/auth/logout`, {
      method: 'POST',
      mode: 'no-cors',
      credentials: 'include',
    });
    outcome.blindLogout = logout.type;
    outcome.stream = await new Promise((resolve) => {
      const source = new EventSource(`${api}/v1/executions/${operationId}/stream`, {
        withCredentials: true,
      });
      let received = 0;
      source.addEventListener('execution.snapshot', () => received++);
      source.addEventListener('error', () => {
        const closed = source.readyState === EventSource.CLOSED;
        source.close();
        resolve({ received, closed });
      });
    });
    return outcome;
  },
};
window.ready = true;
