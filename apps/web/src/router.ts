import { type MouseEvent, useEffect, useState } from 'react';

/** The page's routes: `/` (your executions) and `/executions/:operationId` (one, live). */
export type Route = { name: 'home' } | { name: 'execution'; operationId: string };

export function routeOf(pathname: string): Route {
  const match = /^\/executions\/(op_[A-Za-z0-9_-]{1,64})\/?$/.exec(pathname);
  return match?.[1] ? { name: 'execution', operationId: match[1] } : { name: 'home' };
}

export function navigate(path: string): void {
  if (path === window.location.pathname) return;
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [pathname, setPathname] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPathname(window.location.pathname);
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return routeOf(pathname);
}

/** A link's click handled in the page, unless the user asked for a new tab or window. */
export function onLinkClick(path: string) {
  return (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(path);
  };
}
