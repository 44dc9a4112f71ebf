import { describe, expect, it } from 'vitest';
import { encodeSseFrame, encodeSseRetry, SSE_PING_FRAME, SseDecoder } from '../src/index.ts';

describe('SSE framing', () => {
  it('encodes id, event and data lines, and retry as a frame of its own', () => {
    expect(encodeSseFrame({ id: '1-2', event: 'execution.progress', data: '{"a":1}' })).toBe(
      'id: 1-2\nevent: execution.progress\ndata: {"a":1}\n\n',
    );
    expect(encodeSseRetry(3000)).toBe('retry: 3000\n\n');
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => encodeSseRetry(bad)).toThrow(RangeError);
    expect(encodeSseFrame({ data: 'two\nlines' })).toBe('data: two\ndata: lines\n\n');
    expect(() => encodeSseFrame({ id: 'a\nb', data: 'x' })).toThrow(/single line/);
  });

  it('round-trips frames split at every possible byte boundary', () => {
    const stream =
      encodeSseRetry(1500) +
      encodeSseFrame({ id: '1-1', event: 'a', data: '{"x":"y"}' }) +
      SSE_PING_FRAME +
      encodeSseFrame({ id: '1-2', event: 'b', data: 'multi\nline' });
    for (let split = 0; split <= stream.length; split++) {
      const decoder = new SseDecoder();
      const messages = [
        ...decoder.push(stream.slice(0, split)),
        ...decoder.push(stream.slice(split)),
      ];
      expect(messages, `split at ${split}`).toEqual([
        { lastEventId: '1-1', event: 'a', data: '{"x":"y"}' },
        { lastEventId: '1-2', event: 'b', data: 'multi\nline' },
      ]);
      expect(decoder.retryMs).toBe(1500);
    }
  });

  it('follows the spec on line endings, BOM, comments, bare fields and bad values', () => {
    const decoder = new SseDecoder();
    const input =
      '\uFEFFdata: crlf\r\n\r\n' +
      'data:no-space\rid: 7\r\r' +
      ': comment\nevent\ndata\n\n' +
      'id: bad\0id\nretry: 12x\ndata:  two spaces\n\n' +
      'data: unterminated';
    expect(decoder.push(input)).toEqual([
      { lastEventId: '', event: 'message', data: 'crlf' },
      { lastEventId: '7', event: 'message', data: 'no-space' },
      { lastEventId: '7', event: 'message', data: '' },
      { lastEventId: '7', event: 'message', data: ' two spaces' },
    ]);
    expect(decoder.retryMs).toBeUndefined();
  });

  it('pairs a CR at the end of one chunk with the LF that starts the next', () => {
    const decoder = new SseDecoder();
    expect(decoder.push('data: a\r')).toEqual([]);
    expect(decoder.push('\n\r')).toEqual([{ lastEventId: '', event: 'message', data: 'a' }]);
    expect(decoder.push('\ndata: b\n\n')).toEqual([
      { lastEventId: '', event: 'message', data: 'b' },
    ]);
  });
});
