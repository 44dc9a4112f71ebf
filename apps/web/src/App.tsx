import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Executions } from './Executions.tsx';
import { ExecutionView } from './ExecutionView.tsx';
import { navigate, onLinkClick, useRoute } from './router.ts';
import {
  demoEnabled,
  demoWallet,
  hasInjectedWallet,
  injectedWallet,
  readSession,
  type Session,
  type Signer,
  signIn,
  signOut,
} from './wallet.ts';

const SESSION_KEY = ['session'];

export function App() {
  const route = useRoute();
  const queryClient = useQueryClient();
  const session = useQuery({ queryKey: SESSION_KEY, queryFn: readSession, staleTime: Infinity });

  const out = useMutation({
    mutationFn: signOut,
    onSuccess: () => {
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] });
      queryClient.setQueryData(SESSION_KEY, null);
      navigate('/');
    },
  });

  let content: ReactNode;
  if (session.isPending) {
    content = <p className="muted">Loading…</p>;
  } else if (session.error) {
    content = <p role="alert">Could not reach the server: {session.error.message}</p>;
  } else if (!session.data) {
    content = (
      <SignIn
        reason={
          route.name === 'execution' ? 'Sign in with your wallet to see this execution.' : null
        }
      />
    );
  } else if (route.name === 'execution') {
    content = <ExecutionView key={route.operationId} operationId={route.operationId} />;
  } else {
    content = <Executions />;
  }

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="bar">
        <a className="brand" href="/" onClick={onLinkClick('/')}>
          execstream
        </a>
        {session.data ? (
          <div className="who">
            <span className="address" title={session.data.ownerId}>
              {shortOwner(session.data)}
            </span>
            <button
              type="button"
              className="secondary"
              onClick={() => out.mutate()}
              disabled={out.isPending}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

function shortOwner(session: Session): string {
  const { address } = session;
  return address ? `${address.slice(0, 6)}…${address.slice(-4)}` : session.ownerId;
}

function SignIn({ reason }: { reason: string | null }) {
  const queryClient = useQueryClient();
  const signing = useMutation({
    mutationFn: async (which: Signer['kind']) =>
      signIn(which === 'demo' ? demoWallet() : await injectedWallet()),
    onSuccess: (session) => queryClient.setQueryData(SESSION_KEY, session),
  });
  const demo = demoEnabled();
  const injected = hasInjectedWallet();
  return (
    <section className="panel narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p>
        {reason ?? 'Sign in with an Ethereum wallet to submit executions and follow them live.'}
      </p>
      <div className="actions">
        {injected ? (
          <button
            type="button"
            onClick={() => signing.mutate('injected')}
            disabled={signing.isPending}
          >
            Sign in with your wallet
          </button>
        ) : null}
        {demo ? (
          <button
            type="button"
            className={injected ? 'secondary' : undefined}
            onClick={() => signing.mutate('demo')}
            disabled={signing.isPending}
          >
            Sign in with a demo wallet
          </button>
        ) : null}
      </div>
      {!injected && !demo ? (
        <p className="muted">No wallet was found in this browser: install one to sign in.</p>
      ) : null}
      {demo ? (
        <p className="muted small">
          The demo wallet is a key made in this tab and kept for it (sessionStorage); it signs the
          server's Sign-In with Ethereum message, as a wallet would.
        </p>
      ) : null}
      {signing.error ? <p role="alert">Sign-in failed: {signing.error.message}</p> : null}
    </section>
  );
}
