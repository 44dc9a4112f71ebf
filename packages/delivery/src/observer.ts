/** The surfaces that deliver streams: the raw SSE route, the tRPC subscription, and AG-UI. */
export type Surface = 'sse' | 'trpc' | 'ag-ui';

/** What the server measures about deliveries; every method is optional. */
export interface DeliveryObserver {
  opened?(surface: Surface): void;
  closed?(surface: Surface): void;
  /**
   * `count` events handed to the transport in one go (the observer hears of batches, not of each
   * event: it runs once per batch per reader). `liveLagMs` is the append-to-delivery time of the
   * batch's last event appended after the stream opened; `null` when all were replayed history
   * or snapshots, whose age says nothing about the server's speed.
   */
  delivered?(surface: Surface, count: number, liveLagMs: number | null): void;
  /** A connection resumed from a cursor that is an event of the stream. */
  replayed?(surface: Surface): void;
  /** A snapshot stood in for events the cursor asked for (trimmed, expired, foreign cursor). */
  resynced?(surface: Surface): void;
  /** The unsent backlog of a stream grew (positive) or shrank (negative) by `deltaBytes`. */
  backlog?(surface: Surface, deltaBytes: number): void;
  /** A reader at the live edge joined its execution's spool (see `Spool`), or joined it again. */
  spooled?(surface: Surface): void;
  /** A reader of a spool whose socket was full was moved aside, to catch up by itself. */
  movedAside?(surface: Surface): void;
  /** A reader fell behind by more than the backlog bound and was disconnected. */
  slowConsumer?(surface: Surface): void;
}
