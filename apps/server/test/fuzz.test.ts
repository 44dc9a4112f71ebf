import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './support/process.ts';
import { type Random, seededRandom } from './support/random.ts';
import { OWNER_A, OWNER_B } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';
import { exchange, type WireResponse } from './support/wire.ts';

/**
 * Randomised hostile traffic against a server in a process of its own, over every route and
 * method: odd ids and cursors, batches over the limit, bodies huge, deep, invalid or mistyped,
 * odd and repeated headers, framing Node accepts and framing it refuses. Every answer is held to
 * CONTRACT §7/§8; the process must come out of it alive, answering and no larger than a bound.
 *
 * Replay: `FUZZ_SEED=<seed> pnpm vitest run --project server test/fuzz.test.ts` sends the same
 * requests again (they come from the seed alone, in index order, never from answers; only the ids
 * of the executions set up first differ), and `FUZZ_ONLY=<index>` sends just the one a failure
 * names, printed whole. `FUZZ_REQUESTS` sets how many.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const IN_FLIGHT = 12;
/** Open streams per owner: above what A can hold with IN_FLIGHT requests, all held by B. */
const MAX_STREAMS = 32;
const FAILED_AUTH_LIMIT = 20;

/**
 * The failed-credential limit counts per client address, and without a proxy every request here
 * comes from 127.0.0.1: 20 bad keys in and every anonymous request of the rest of the minute is
 * a 429, which would hide the 401 paths. So the server trusts 127.0.0.1 as its proxy
 * (EXECSTREAM_TRUST_PROXY) and most requests carry an X-Forwarded-For from a pool of a thousand
 * addresses, each of which stays under the limit; the share without one all count against
 * 127.0.0.1 and are soon refused with 429 RATE_LIMITED. That keeps the limit at its default and
 * exercises it, and puts X-Forwarded-For itself (garbage included) in front of proxy-addr.
 */
const ENV = {
  PORT: '0',
  EXECSTREAM_DEMO: 'on',
  EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId},${OWNER_B.key}:${OWNER_B.ownerId}`,
  EXECSTREAM_TRUST_PROXY: '127.0.0.1',
  EXECSTREAM_MAX_FAILED_AUTH: String(FAILED_AUTH_LIMIT),
  EXECSTREAM_MAX_STREAMS_PER_OWNER: String(MAX_STREAMS),
};

/** Words that only an internal error would put in an answer (the generator never sends them). */
const INTERNAL = [
  /\bat .*\.(ts|js|mjs|cjs):\d+/,
  /Expected sequence/,
  /ioredis/i,
  /ECONNREFUSED/,
  /TypeError|RangeError|ReferenceError|SyntaxError/,
  /Cannot read propert/,
  /Maximum call stack/,
  /is not a function|is not defined|undefined is not/,
  /FST_/,
  /node_modules/,
  /Unexpected (token|end)|JSON at position/,
];

type Framing =
  | 'none'
  | 'length'
  | 'chunked'
  | 'short-length'
  | 'long-length'
  | 'length+chunked'
  | 'chunked-odd';

/** Everything a case needs to be written, and told apart when it fails. */
interface Case {
  index: number;
  kind: string;
  method: string;
  path: string;
  headers: [string, string][];
  /** The request bytes, in the writes they are sent as. */
  parts: (string | Buffer)[];
  /** Served by tRPC's handler, which answers errors in its own shape (CONTRACT §6/§7). */
  trpc: boolean;
  /** The connection may end without an answer (see where it is set). */
  mayDrop: boolean;
  /** Send the end of the request bytes (FIN) after them. */
  halfClose: boolean;
}

interface Fixtures {
  running: string;
  done: string;
  doneFirst: string;
  doneLast: string;
  runningCursor: string;
  foreign: string;
}

const UNKNOWN = 'op_01JWZEE2MF30KVRMRX53N88VA4';
/** Methods besides GET and POST: the usual, and odd tokens Node's parser takes. */
const OTHER_METHODS = [
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'M-SEARCH',
];
const PROCEDURES = [
  'v2.executions.get',
  'v2.executions.detail',
  'v2.executions.list',
  'v2.executions.submit',
  'v2.executions.cancel',
  'v2.executions.stream',
];
const ODD_PROCEDURES = [
  'v2.executions',
  'v2',
  'nope',
  'v2.executions.get.deeper',
  '__proto__',
  'constructor',
  'v2.executions.__proto__',
  'v2.executions.toString',
  'v2.executions.hasOwnProperty',
  'v2..executions.get',
  '.',
];

/** Bodies over the 256 KiB limit, made once and sent many times. */
const HUGE = [
  Buffer.alloc(1_100_000, 'a'),
  Buffer.from(`{"type":"swap","params":{"blob":"${'x'.repeat(2_500_000)}"}}`),
  Buffer.from(`${'['.repeat(1_500_000)}${']'.repeat(1_500_000)}`),
  Buffer.alloc(5_000_000, 0x7b),
];

function generator(random: Random, fixtures: Fixtures) {
  const { pick, int, chance, weighted } = random;
  // Lower-case and symbols only, and no ':': junk cannot spell an internal word or a stack frame.
  const junk = (max = 24) =>
    Array.from({ length: int(0, max) }, () =>
      pick(['a', 'z', '0', '9', '-', '_', '.', '~', '%', '%00', '%ff', '/', ' ', '"', '{', '}']),
    ).join('');
  const nonAscii = () => pick(['é', 'ü', '日本', '\u00ff', '\u2028', 'ш', '😀', '\u0085']);
  const addresses = Array.from(
    { length: 1000 },
    (_, i) => `10.${i >> 8}.${i & 255}.${int(1, 254)}`,
  );

  const operationId = (): string =>
    weighted<() => string>([
      [30, () => fixtures.running],
      [10, () => fixtures.done],
      [8, () => fixtures.foreign],
      [8, () => UNKNOWN],
      [4, () => 'op_'],
      [3, () => `op_${'x'.repeat(64)}`],
      [3, () => `op_${'x'.repeat(65)}`],
      [3, () => 'op_a:b'],
      [3, () => `${fixtures.running}\u0000`],
      [3, () => fixtures.running.toLowerCase()],
      [3, () => `op_${nonAscii()}`],
      [8, () => `op_${junk()}`],
      [5, junk],
    ])();
  const cursor = (): string =>
    weighted<() => string>([
      [6, () => '0'],
      [4, () => '0-0'],
      [6, () => fixtures.doneLast],
      [4, () => fixtures.doneFirst],
      [5, () => fixtures.runningCursor],
      [4, () => `${int(0, 2 ** 40)}-${int(0, 9)}`],
      [2, () => '18446744073709551615-18446744073709551615'],
      [2, () => '99999999999999999999-0'],
      [2, () => `${'9'.repeat(int(21, 400))}-0`],
      [2, () => '١-٠'],
      [2, () => ''],
      [2, () => ' '],
      [2, () => '1-2-3'],
      [2, () => '-1'],
      [6, () => junk()],
      [1, () => nonAscii()],
    ])();
  /** An id as it stands in a path: encoded, half-encoded or raw. */
  const inPath = (value: string) =>
    weighted<() => string>([
      [6, () => encodeURIComponent(value)],
      [2, () => encodeURIComponent(value).replace(/%25/g, '%')],
      [1, () => value.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c))],
    ])();

  /** JSON-ish input for a procedure: mostly well-formed, often not what it wants. */
  const input = (procedure: string): unknown =>
    weighted<() => unknown>([
      [
        10,
        () => {
          switch (procedure) {
            case 'v2.executions.detail':
              return {
                operationId: operationId(),
                ...(chance(0.5) ? { after: cursor() } : {}),
                ...(chance(0.5)
                  ? { limit: pick([1, 10, 1000, 1001, 0, -1, 2.5, '10', null]) }
                  : {}),
              };
            case 'v2.executions.list':
              return chance(0.3)
                ? undefined
                : { cursor: pick([null, cursor(), 'x'.repeat(65)]), limit: pick([1, 50, 0, 101]) };
            case 'v2.executions.submit':
              return {
                type: pick(['swap', 'bridge', 'rebalance', 'withdraw', 'teleport', '', null]),
                ...(chance(0.6) ? { params: params() } : {}),
                ...(chance(0.3) ? { idempotencyKey: pick(['k1', 'k2', '', 'x'.repeat(300)]) } : {}),
              };
            case 'v2.executions.stream':
              return {
                operationId: operationId(),
                ...(chance(0.6) ? { lastEventId: pick([cursor(), null]) } : {}),
              };
            default:
              return { operationId: operationId() };
          }
        },
      ],
      [1, () => null],
      [1, () => pick([0, -1, 1e308, true, 'string', [], [1, 2]])],
      [1, () => ({ __proto__: { operationId: fixtures.running }, constructor: { prototype: 1 } })],
      [1, () => JSON.parse('{"__proto__":{"polluted":true},"operationId":"op_a"}')],
      [1, () => deep(int(100, 3000))],
      [1, () => ({ operationId: 'x'.repeat(int(100, 4000)) })],
    ])();
  const params = (): unknown =>
    weighted<() => unknown>([
      [5, () => ({ simulate: { steps: int(1, 3), intervalMs: 0 } })],
      [
        2,
        () => ({
          simulate: { steps: pick([0, 10_001, 2.5, '3']), outcome: pick(['x', 'failed']) },
        }),
      ],
      [1, () => ({ simulate: { steps: 1, intervalMs: 0, outcome: 'failed' } })],
      [1, () => ({})],
      [1, () => ({ nested: deep(int(20, 40)) })],
      [1, () => ({ blob: 'x'.repeat(int(60_000, 70_000)) })],
      [1, () => pick([null, [], 'params', 42])],
    ])();
  const deep = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = chance(0.5) ? [value] : { a: value };
    return value;
  };

  /** A tRPC GET or POST: single calls, batches, batches over the limit, junk. */
  const trpcRequest = (): Pick<Case, 'method' | 'path' | 'kind'> & { body: Buffer | null } => {
    const batch = weighted<number>([
      [6, 0],
      [3, int(1, 5)],
      [1, int(51, 80)],
    ]);
    const procedures =
      batch === 0
        ? [chance(0.9) ? pick(PROCEDURES) : pick(ODD_PROCEDURES)]
        : Array.from({ length: batch }, () =>
            chance(0.9) ? pick(PROCEDURES) : pick(ODD_PROCEDURES),
          );
    const inputs =
      batch === 0
        ? input(procedures[0] as string)
        : Object.fromEntries(procedures.map((procedure, i) => [String(i), input(procedure)]));
    const json = chance(0.9) ? JSON.stringify(inputs) : pick(['{', '{"0":', 'nope', junk(), '']);
    const query = [
      batch > 0 || chance(0.05) ? 'batch=1' : null,
      chance(0.05)
        ? `connectionParams=${encodeURIComponent(pick([`{"apiKey":"${OWNER_A.key}"}`, '{', 'null']))}`
        : null,
      chance(0.03) ? `lastEventId=${encodeURIComponent(cursor())}` : null,
    ];
    const method = weighted([
      [10, 'GET'],
      [7, 'POST'],
      [1, pick(OTHER_METHODS)],
    ]);
    const path = `/v1/trpc/${procedures.join(',')}`;
    if (method === 'GET')
      query.push(json === undefined ? null : `input=${encodeURIComponent(json)}`);
    const search = query.filter(Boolean).join('&');
    return {
      kind: batch > 50 ? 'trpc-batch-over' : batch > 0 ? 'trpc-batch' : 'trpc',
      method,
      path: search ? `${path}?${search}` : path,
      body: method === 'GET' || json === undefined ? null : Buffer.from(json),
    };
  };

  const streamRequest = (): Pick<Case, 'method' | 'path' | 'kind'> & { header?: string } => {
    const id = operationId();
    const method = weighted([
      [12, 'GET'],
      [1, pick(['POST', ...OTHER_METHODS])],
    ]);
    // A's finished execution from its last cursor: the 204 that ends an EventSource.
    if (chance(0.08)) {
      return {
        kind: 'sse-done',
        method,
        path: `/v1/executions/${fixtures.done}/stream`,
        header: fixtures.doneLast,
      };
    }
    const query = chance(0.3)
      ? `?lastEventId=${encodeURIComponent(cursor())}`
      : chance(0.05)
        ? `?${junk()}`
        : '';
    return {
      kind: 'sse',
      method,
      path: `/v1/executions/${inPath(id)}/stream${query}`,
      ...(chance(0.4) ? { header: cursor() } : {}),
    };
  };

  const opsOrUnknown = (): Pick<Case, 'method' | 'path' | 'kind'> => {
    const method = weighted([
      [8, 'GET'],
      [2, 'HEAD'],
      [3, pick(['POST', ...OTHER_METHODS.filter((method) => method !== 'HEAD')])],
    ]);
    if (chance(0.5)) {
      return {
        kind: 'ops',
        method,
        path: `${pick(['/healthz', '/readyz', '/metrics'])}${chance(0.2) ? `?${junk()}` : ''}`,
      };
    }
    return {
      kind: 'unknown',
      method,
      path: pick([
        '/',
        '/v1',
        '/v1/',
        '/v1/trpc',
        '/v1/executions',
        `/v1/executions/${fixtures.running}`,
        `/v1/executions/${fixtures.running}/stream/extra`,
        '/v1/ai/executions/op_a/ag-ui-stream',
        '/v1/auth/session',
        '/healthz/',
        '/HEALTHZ',
        '//healthz',
        '/favicon.ico',
        '/../../etc/passwd',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/%ZZ',
        `/v1/${inPath(junk())}`,
        `/${inPath(junk(200))}`,
        `/${'a/'.repeat(int(100, 2000))}`,
      ]),
    };
  };

  /** One random request, headers and body framing included. */
  return (index: number): Case => {
    const route = weighted<
      () => Pick<Case, 'method' | 'path' | 'kind'> & {
        body?: Buffer | null;
        header?: string;
      }
    >([
      [40, trpcRequest],
      [30, streamRequest],
      [18, opsOrUnknown],
    ])();
    let { method, path, kind } = route;
    const headers: [string, string][] = [];
    // Host: mostly fine; missing, repeated, empty or not a host now and then (each a 400).
    const host = weighted<string[]>([
      [40, ['localhost']],
      [10, ['127.0.0.1:3000']],
      [5, ['example.com']],
      [1, []],
      [1, ['localhost', 'evil.example']],
      [1, ['']],
      [1, [pick(['a b', '[::1', 'x/y', 'h%zz', `${nonAscii()}.example`])]],
    ]);
    for (const value of host) headers.push(['Host', value]);
    // Credentials: mostly a valid owner, often wrong, missing, repeated or malformed.
    const key = weighted<() => string[]>([
      [40, () => [OWNER_A.key]],
      [14, () => [OWNER_B.key]],
      [12, () => []],
      [10, () => [`test-key-unknown-${int(0, 1e6)}-000`]],
      [4, () => [OWNER_A.key, OWNER_A.key]],
      [3, () => [OWNER_A.key, OWNER_B.key]],
      [3, () => ['']],
      [3, () => [`${OWNER_A.key}${nonAscii()}`]],
      [2, () => ['k'.repeat(int(257, 8000))]],
      [2, () => [` ${OWNER_A.key} `]],
    ])();
    for (const value of key) headers.push([pick(['X-API-KEY', 'x-api-key', 'X-Api-Key']), value]);
    const forwarded = weighted<() => string | null>([
      [85, () => pick(addresses)],
      [10, () => null],
      [
        5,
        () =>
          pick(['garbage', '::1, 10.0.0.1', '999.1.1.1', '', `${junk()}`, '1.1.1.1,,,', 'unknown']),
      ],
    ])();
    if (forwarded !== null) headers.push(['X-Forwarded-For', forwarded]);
    if (route.header !== undefined) headers.push(['Last-Event-ID', route.header]);
    if (chance(0.05)) headers.push(['Last-Event-ID', cursor()]);
    if (chance(0.1))
      headers.push(['X-Request-Id', pick(['req-1', 'x'.repeat(129), junk(), nonAscii()])]);
    if (chance(0.1))
      headers.push(['Accept', pick(['text/event-stream', '*/*', 'application/json', nonAscii()])]);
    if (chance(0.05)) headers.push(['trpc-accept', pick(['application/jsonl', 'nope'])]);
    if (chance(0.05)) headers.push(['X-Pad', 'p'.repeat(int(1000, 14_000))]);
    if (chance(0.01)) headers.push(['X-Pad', 'p'.repeat(int(17_000, 40_000))]);
    if (chance(0.05)) headers.push(['X-Note', `${nonAscii()}${junk()}${nonAscii()}`]);
    if (chance(0.03)) headers.push(['Cookie', `execstream_session=${junk()}; x=${nonAscii()}`]);
    if (chance(0.03))
      headers.push(['Connection', pick(['Upgrade', 'close, Upgrade', 'keep-alive'])]);
    if (chance(0.03)) headers.push(['Upgrade', pick(['websocket', 'h2c'])]);
    if (chance(0.03)) headers.push(['Content-Encoding', pick(['gzip', 'br', 'identity', 'nope'])]);

    // Body: the route's own, or one of the hostile kinds, in one of the framings.
    let body: Buffer | null = route.body ?? null;
    const hostile = chance(method === 'GET' || method === 'HEAD' ? 0.08 : 0.35);
    if (hostile) {
      const makers = {
        huge: () => pick(HUGE),
        deep: () => {
          const depth = int(1000, 100_000);
          return Buffer.from(
            chance(0.5)
              ? `${'['.repeat(depth)}${']'.repeat(depth)}`
              : `{"type":"swap","params":${'{"a":'.repeat(depth / 8)}1${'}'.repeat(depth / 8)}}`,
          );
        },
        invalid: () =>
          Buffer.from(pick(['{', '{"type":', 'nope', '[]]', '\u0000', '{"a":1}{"b":2}', junk()])),
        binary: () => Buffer.from(Array.from({ length: int(1, 4096) }, () => int(0, 255))),
        empty: () => Buffer.alloc(0),
        large: () =>
          Buffer.from(`{"type":"swap","params":{"blob":"${'y'.repeat(int(100_000, 250_000))}"}}`),
      };
      const bodyKind = weighted<keyof typeof makers>([
        [3, 'huge'],
        [3, 'deep'],
        [4, 'invalid'],
        [2, 'binary'],
        [2, 'empty'],
        [2, 'large'],
      ]);
      body = makers[bodyKind]();
      kind = `${kind}+${bodyKind}`;
    }
    if (body !== null || chance(0.1)) {
      const contentType = weighted<string | null>([
        [10, 'application/json'],
        [2, 'application/json; charset=utf-8'],
        [1, 'APPLICATION/JSON'],
        [2, 'text/plain'],
        [1, 'application/x-www-form-urlencoded'],
        [1, 'multipart/form-data; boundary=xyz'],
        [1, 'application/octet-stream'],
        [1, 'application/jsonp'],
        [1, 'application/json; charset=latin1'],
        [1, ''],
        [1, null],
      ]);
      if (contentType !== null) headers.push(['Content-Type', contentType]);
    }
    const framing =
      body === null
        ? 'none'
        : weighted<Framing>([
            [8, 'length'],
            [3, 'chunked'],
            [1, 'short-length'],
            [1, 'long-length'],
            [1, 'length+chunked'],
            [1, 'chunked-odd'],
          ]);
    if (body !== null && chance(0.1))
      headers.push(['Expect', pick(['100-continue', '100-Continue', '200-ok', 'nope'])]);
    // Methods the parser refuses and forms of the request line it may take or refuse.
    if (chance(0.01)) method = pick(['BREW', 'get', 'G ET', 'CONNECT', '']);
    const version = weighted([
      [50, 'HTTP/1.1'],
      [3, 'HTTP/1.0'],
      [1, pick(['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/1.1 extra', 'http/1.1'])],
    ]);
    if (chance(0.01))
      path = pick([
        `http://example.com${path}`,
        '*',
        `${path}#frag`,
        `${path}\u0001`,
        path.replace('/', '\\'),
      ]);
    const brokenFraming = chance(0.02);

    const lines = [`${method} ${path} ${version}`];
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    const length = body?.length ?? 0;
    const framingLines: Record<Framing, string[]> = {
      none: [],
      length: [`Content-Length: ${length}`],
      chunked: ['Transfer-Encoding: chunked'],
      // The rest of the body reads as a second, malformed request on the same connection.
      'short-length': [`Content-Length: ${int(0, Math.max(0, length - 1))}`],
      // The request never completes: the server sees the end of the bytes instead.
      'long-length': [`Content-Length: ${length + int(1, 1000)}`],
      'length+chunked': [`Content-Length: ${length}`, 'Transfer-Encoding: chunked'],
      'chunked-odd': [
        `Transfer-Encoding: ${pick(['Chunked', 'gzip, chunked', 'chunked, chunked'])}`,
      ],
    };
    lines.push(...framingLines[framing]);
    if (brokenFraming) {
      lines.push(
        pick([
          'No colon here',
          ' folded: continuation',
          'Bad\u0000Name: x',
          'X-Bare: lf\nX-Other: y',
          'Content-Length: 5',
          'Content-Length: -1',
          'Transfer-Encoding: identity',
        ]),
      );
    }
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, chance(0.5) ? 'utf8' : 'latin1');
    const parts: (string | Buffer)[] = [head];
    if (body !== null) {
      if (framing.includes('length') && !framing.includes('chunked')) {
        for (let at = 0; at < body.length; at += 256 * 1024)
          parts.push(body.subarray(at, at + 256 * 1024));
      } else {
        // Chunks of random sizes, some with extensions, then the last chunk.
        for (let at = 0; at < body.length; ) {
          const size = Math.min(body.length - at, body.length > 100_000 ? 65_536 : int(1, 4096));
          const extension = chance(0.05) ? ';ext=1' : '';
          parts.push(
            Buffer.concat([
              Buffer.from(`${size.toString(16)}${extension}\r\n`),
              body.subarray(at, at + size),
              Buffer.from('\r\n'),
            ]),
          );
          at += size;
        }
        parts.push('0\r\n\r\n');
      }
    }
    // When the connection may end without any answer. Framing broken on purpose, a version other
    // than HTTP/1.x, or CONNECT (which Node drops: nothing handles it). And a body the server
    // may answer before reading, on a connection it then closes: a head the parser refuses (a
    // malformed request line, over 16 KiB, control bytes), an upload over the size limit,
    // framing tricks, HTTP/1.0 or `Connection: close`. Closing with bytes unread makes TCP reset
    // the connection, and the reset can overtake the answer: Node does no lingering close
    // (RFC 9112 §9.6).
    const earlyClose =
      !/^[!-~]+ [!-~]+ HTTP\/1\.[01]$/.test(lines[0] as string) ||
      head.length > 16 * 1024 ||
      head.some(
        (byte) => (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) || byte === 0x7f,
      ) ||
      (body?.length ?? 0) > 256 * 1024 ||
      (framing !== 'length' && framing !== 'chunked') ||
      version === 'HTTP/1.0' ||
      headers.some(([name, value]) => name === 'Connection' && value.includes('close'));
    const mayDrop =
      brokenFraming ||
      !version.startsWith('HTTP/1.') ||
      method === 'CONNECT' ||
      method === '' ||
      (body !== null && earlyClose);
    // Left open, a request the server waits on for ever (a body shorter than its length).
    const halfClose = brokenFraming || framing === 'long-length';
    const trpc =
      /^(https?:\/\/[^/]*)?\/v1\/trpc\/./.test(path) && (method === 'GET' || method === 'POST');
    return { index, kind, method, path, headers, parts, trpc, mayDrop, halfClose };
  };
}

/** Why an answer breaks the contract, or nothing. */
function problemsOf(request: Case, res: WireResponse): string[] {
  const problems: string[] = [];
  if (res.ending === 'timeout') problems.push('no answer and no close within 10 s (a hang)');
  if (res.status >= 500) problems.push(`status ${res.status}`);
  const text = `${Object.entries(res.headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\n')}\n${res.body}`;
  for (const word of INTERNAL) if (word.test(text)) problems.push(`internal text ${word}`);
  if (res.status === 0) {
    if (!request.mayDrop && res.ending !== 'timeout') problems.push(`no answer (${res.ending})`);
    return problems;
  }
  if (!res.headers['x-request-id']) problems.push('no X-Request-Id');
  if (res.status === 405 && !res.headers.allow) problems.push('405 without Allow');
  if (res.status === 429 && !res.headers['retry-after']) problems.push('429 without Retry-After');
  const isError = res.status >= 400;
  if (!isError || request.method === 'HEAD' || res.ending !== 'complete') return problems;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    problems.push('error body is not JSON');
    return problems;
  }
  if (!(isContractError(body) || (request.trpc && isTrpcError(body, res.status)))) {
    problems.push('error body is not the CONTRACT §7 shape');
  }
  return problems;
}

/** Exactly `{"success":false,"error":{"code","message"}}`. */
function isContractError(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const { success, error, ...rest } = body as Record<string, unknown>;
  if (success !== false || Object.keys(rest).length > 0) return false;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, ...more } = error as Record<string, unknown>;
  return (
    typeof code === 'string' &&
    /^[A-Z][A-Z_]*$/.test(code) &&
    typeof message === 'string' &&
    Object.keys(more).length === 0
  );
}

/** tRPC's error shape (or a batch holding one), with its code in `data` and no stack. */
function isTrpcError(body: unknown, status: number): boolean {
  const items = Array.isArray(body) ? body : [body];
  const codes = items.flatMap((item) => {
    const error = (item as { error?: { message?: unknown; data?: Record<string, unknown> } }).error;
    if (!error) return (item as { result?: unknown }).result === undefined ? [null] : [];
    const { data } = error;
    if (typeof error.message !== 'string' || !data || 'stack' in data) return [null];
    return [
      typeof data.code === 'string' && typeof data.httpStatus === 'number' ? data.httpStatus : null,
    ];
  });
  return (
    codes.length > 0 &&
    !codes.includes(null) &&
    (Array.isArray(body) ? status === 207 || codes.includes(status) : codes[0] === status)
  );
}

function describeCase(request: Case): string {
  const head = request.parts[0]?.toString('latin1') ?? '';
  const bodyBytes = request.parts.slice(1).reduce((sum, part) => sum + part.length, 0);
  const shown = head.length > 1200 ? `${head.slice(0, 1200)}…(${head.length} bytes)` : head;
  return `#${request.index} ${request.kind}, ${head.length} head bytes, ${bodyBytes} body bytes in ${request.parts.length - 1} writes: ${JSON.stringify(shown)}`;
}

/** The server process's resident memory, in MB. */
function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

/** Streams that owner B holds open for the whole run, so that every further one of B's is a 429. */
async function holdStreams(url: string, operationId: string, count: number): Promise<Socket[]> {
  const { port } = new URL(url);
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          socket.on('error', reject);
          socket.write(
            `GET /v1/executions/${operationId}/stream HTTP/1.1\r\nHost: localhost\r\nX-API-KEY: ${OWNER_B.key}\r\n\r\n`,
          );
          socket.once('data', (chunk: Buffer) => {
            if (chunk.toString('latin1').startsWith('HTTP/1.1 200')) resolve(socket);
            else reject(new Error(`B's stream refused: ${chunk}`));
          });
          // Read on, so these streams never trip the slow-reader bound.
          socket.resume();
        }),
    ),
  );
}

async function setUp(server: ServerProcess): Promise<Fixtures> {
  const a = trpcClient(server.url, OWNER_A.key);
  const b = trpcClient(server.url, OWNER_B.key);
  const forever = { simulate: { steps: 10_000, intervalMs: 60_000 } };
  const running = (await a.v2.executions.submit.mutate({ type: 'swap', params: forever }))
    .operationId;
  const foreign = (await b.v2.executions.submit.mutate({ type: 'bridge', params: forever }))
    .operationId;
  const done = (
    await a.v2.executions.submit.mutate({
      type: 'withdraw',
      params: { simulate: { steps: 1, intervalMs: 0 } },
    })
  ).operationId;
  const deadline = Date.now() + 10_000;
  while ((await a.v2.executions.get.query({ operationId: done })).finishedAt === null) {
    if (Date.now() > deadline) throw new Error('the finished execution never finished');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { events } = await a.v2.executions.detail.query({ operationId: done });
  const runningSnapshot = await a.v2.executions.get.query({ operationId: running });
  return {
    running,
    foreign,
    done,
    doneFirst: events[0]?.cursor as string,
    doneLast: events.at(-1)?.cursor as string,
    runningCursor: runningSnapshot.cursor,
  };
}

describe('randomised hostile requests against a server process', () => {
  it(`${REQUESTS} requests: no 5xx, no internals, CONTRACT §7 errors, alive and bounded after`, async () => {
    await using server = await spawnServer(ENV);
    const pid = server.child.pid as number;
    const errorLogs: string[] = [];
    let pending = '';
    server.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (/"level":(5\d|6\d)/.test(line)) errorLogs.push(line.slice(0, 2000));
      }
    });
    const fixtures = await setUp(server);
    const held = await holdStreams(server.url, fixtures.foreign, MAX_STREAMS);
    const rssStart = rssMb(pid);
    console.log(
      `fuzz: seed ${SEED}, ${REQUESTS} requests, ${IN_FLIGHT} in flight, RSS ${rssStart} MB`,
    );

    const nextCase = generator(seededRandom(SEED), fixtures);
    const statuses = new Map<string, number>();
    const failures: string[] = [];
    let issued = 0;
    let rssAfterWarmUp = 0;
    const rssSamples: number[] = [];
    // FUZZ_ONLY=<index>: generate the run as always, but send that one request alone, shown whole.
    const only = process.env.FUZZ_ONLY === undefined ? null : Number(process.env.FUZZ_ONLY);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (issued < REQUESTS) {
          const request = nextCase(issued++);
          if (request.index === 1000) rssAfterWarmUp = rssMb(pid);
          if (request.index % 2000 === 0) rssSamples.push(rssMb(pid));
          if (only !== null && request.index !== only) continue;
          if (only !== null)
            console.log(`fuzz: #${only}: ${JSON.stringify(request.parts[0]?.toString('latin1'))}`);
          const res = await exchange(server.url, request.parts, {
            head: request.method === 'HEAD',
            halfClose: request.halfClose,
          });
          const label = res.status === 0 ? `none (${res.ending})` : String(res.status);
          statuses.set(label, (statuses.get(label) ?? 0) + 1);
          const problems = problemsOf(request, res);
          if (problems.length > 0 && failures.length < 20) {
            failures.push(
              `${problems.join('; ')}\n  request ${describeCase(request)}\n  answer ${res.status} ${res.ending} ${JSON.stringify(res.headers)} ${JSON.stringify(res.body.slice(0, 500))}`,
            );
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const socket of held) socket.destroy();

    // The process is alive, answers, and gave back what the run took.
    expect(server.child.exitCode).toBeNull();
    const health = await exchange(server.url, ['GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n']);
    expect(health.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssEnd = rssMb(pid);
    const distribution = Object.fromEntries([...statuses].sort(([a], [b]) => a.localeCompare(b)));
    console.log(
      `fuzz: seed ${SEED}: ${REQUESTS} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(distribution)}; RSS start ${rssStart} MB, after 1000 requests ${rssAfterWarmUp} MB, end ${rssEnd} MB (every 2000: ${rssSamples.join(', ')})`,
    );
    if (failures.length > 0) console.log(`fuzz: seed ${SEED} failures:\n${failures.join('\n')}`);
    expect(failures).toEqual([]);
    expect(errorLogs).toEqual([]);
    for (const status of ['200', '204', '400', '401', '404', '405', '413', '415', '429']) {
      expect(statuses.get(status), `status ${status} occurred`).toBeGreaterThan(0);
    }
    expect(rssEnd).toBeLessThan(rssStart + 150);
  }, 180_000);
});
