import { connect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';

/**
 * What a benchmark event carries in its text, whatever the server wraps it in: its round (its
 * index within its execution), when the publisher sent it and when it was due (`monotonicMs`).
 * `benchwarm:` marks warm-up events, which prove a reader is attached before measuring starts.
 */
export const EVENT_TAG = 'bench:';
export const WARM_TAG = 'benchwarm:';

/**
 * The tag a publisher puts in event `round`, stamped now and with the moment the schedule had it
 * due: a server that keeps its publisher waiting delays what is sent after, which only the
 * schedule counts.
 */
export function eventTag(round: number, dueAt: number): string {
  return `${EVENT_TAG}${round}:${monotonicMs().toFixed(3)}:${dueAt.toFixed(3)}`;
}

/**
 * Milliseconds on the system's monotonic clock (CLOCK_MONOTONIC, one clock for every process on
 * the machine), with microsecond resolution: a time stamped by the publisher's process compares
 * with one read in the readers'. (`performance.timeOrigin` is anchored to the wall clock once
 * per process, so two processes' readings can differ by whatever NTP slewed in between.)
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

export interface SseReaderOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  /** Only frames containing this text count (AG-UI writes several frames per event). */
  frameFilter?: string;
  /** Called as each benchmark event is taken off the wire. */
  onEvent: (round: number, sentAt: number, dueAt: number) => void;
}

/**
 * One SSE reader on a raw socket, as a neutral load harness reads any server: it writes a plain
 * HTTP/1.1 GET, undoes chunked encoding when the response uses it, splits frames on blank
 * lines, remembers the last `id:` and finds the benchmark's tag in each frame without parsing
 * the rest. `drop()` then `resume()` reconnects with `Last-Event-ID`, as an EventSource does.
 */
export class SseReader {
  /** Rounds in the order they arrived, across reconnects. */
  readonly rounds: number[] = [];
  warmups = 0;
  /** The status line of the last response, once its headers arrived. */
  status: string | null = null;
  lastEventId: string | null = null;
  readonly #options: SseReaderOptions;
  #socket: Socket | null = null;
  #raw: Buffer = Buffer.alloc(0);
  #text = '';
  #decoder = new StringDecoder('utf8');
  #headersDone = false;
  #chunked = false;

  constructor(options: SseReaderOptions) {
    this.#options = options;
    this.#open();
  }

  /** Closes the connection at once (a reset), as a reader whose network went away. */
  drop(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }

  /** Opens again from the last event id seen. */
  resume(): void {
    this.drop();
    this.#open();
  }

  close(): void {
    this.drop();
  }

  #open(): void {
    this.#raw = Buffer.alloc(0);
    this.#text = '';
    this.#decoder = new StringDecoder('utf8');
    this.#headersDone = false;
    this.#chunked = false;
    this.status = null;
    const headers: Record<string, string> = {
      Host: '127.0.0.1',
      Accept: 'text/event-stream',
      ...this.#options.headers,
      ...(this.lastEventId === null ? {} : { 'Last-Event-ID': this.lastEventId }),
    };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    const socket = connect(this.#options.port, '127.0.0.1');
    socket.on('data', (chunk: Buffer) => this.#take(chunk));
    socket.on('error', () => {});
    socket.write(`GET ${this.#options.path} HTTP/1.1\r\n${lines.join('')}\r\n`);
    this.#socket = socket;
  }

  #take(chunk: Buffer): void {
    this.#raw = this.#raw.length === 0 ? chunk : Buffer.concat([this.#raw, chunk]);
    if (!this.#headersDone) {
      const end = this.#raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.#raw.toString('latin1', 0, end);
      this.status = head.slice(0, head.indexOf('\r\n'));
      this.#chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      this.#headersDone = true;
      this.#raw = this.#raw.subarray(end + 4);
    }
    if (!this.#chunked) {
      this.#frames(this.#decoder.write(this.#raw));
      this.#raw = Buffer.alloc(0);
      return;
    }
    // Chunked encoding: `<hex size>\r\n<bytes>\r\n`, a chunk may split anywhere.
    for (;;) {
      const line = this.#raw.indexOf('\r\n');
      if (line === -1) return;
      const size = Number.parseInt(this.#raw.toString('latin1', 0, line), 16);
      const start = line + 2;
      if (this.#raw.length < start + size + 2) return;
      this.#frames(this.#decoder.write(this.#raw.subarray(start, start + size)));
      this.#raw = this.#raw.subarray(start + size + 2);
    }
  }

  #frames(text: string): void {
    this.#text += text;
    for (;;) {
      const end = this.#text.indexOf('\n\n');
      if (end === -1) return;
      const frame = this.#text.slice(0, end);
      this.#text = this.#text.slice(end + 2);
      this.#frame(frame);
    }
  }

  #frame(frame: string): void {
    const idLine = frame.startsWith('id:') ? 0 : frame.indexOf('\nid:') + 1;
    if (idLine > 0 || frame.startsWith('id:')) {
      const lineEnd = frame.indexOf('\n', idLine);
      this.lastEventId = frame.slice(idLine + 3, lineEnd === -1 ? undefined : lineEnd).trim();
    }
    const filter = this.#options.frameFilter;
    if (filter !== undefined && !frame.includes(filter)) return;
    if (frame.includes(WARM_TAG)) {
      this.warmups++;
      return;
    }
    const at = frame.indexOf(EVENT_TAG);
    if (at === -1) return;
    const roundEnd = frame.indexOf(':', at + EVENT_TAG.length);
    const round = Number.parseInt(frame.slice(at + EVENT_TAG.length, roundEnd), 10);
    const sentEnd = frame.indexOf(':', roundEnd + 1);
    const sentAt = Number.parseFloat(frame.slice(roundEnd + 1, sentEnd));
    const dueAt = Number.parseFloat(frame.slice(sentEnd + 1, sentEnd + 24));
    this.rounds.push(round);
    this.#options.onEvent(round, sentAt, dueAt);
  }
}
