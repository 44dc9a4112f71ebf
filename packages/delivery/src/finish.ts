import type { ServerResponse } from 'node:http';

/**
 * Gives a stream response the server is done with (lifetime, shutdown) `graceMs` to finish, then
 * resets its connection. A reader that stopped reading never drains the socket, so a transport
 * waiting for `drain` would otherwise hold the response, its socket buffers and the stream's
 * backlog for good. A reset rather than a close: after a close the kernel keeps offering the
 * unread bytes to a peer that takes none, for minutes, and the peer hears nothing until it reads.
 * The client resumes from the last cursor it processed and loses nothing.
 */
export function resetUnlessFinished(res: ServerResponse, graceMs: number): void {
  if (res.writableFinished || res.destroyed) return;
  const timer = setTimeout(() => {
    if (res.socket) res.socket.resetAndDestroy();
    else res.destroy();
  }, graceMs);
  const settled = () => {
    clearTimeout(timer);
    res.off('finish', settled);
    res.off('close', settled);
  };
  res.once('finish', settled);
  res.once('close', settled);
}
