import { createServer } from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { HTTP_SERVER_OPTIONS, REQUEST_LIMITS } from '../../../src/http/limits.ts';
import {
  api,
  countCase,
  type Expected,
  gql,
  judge,
  type Outcome,
  ownerA,
  post,
  raw,
  send,
  stillServing,
  stream,
  useHostileServer,
} from './harness.ts';

/**
 * Hostile input at the HTTP layer (harness: ./harness.ts): headers, framing, methods, content
 * types, body size, JSON and encoding, and slow clients.
 */
useHostileServer('http');

describe('the HTTP layer: headers, framing, methods and content types', () => {
  const json = JSON.stringify({ query: '{ __typename }' });
  const request = (headers: string, body = json, line = 'POST /graphql HTTP/1.1') =>
    `${line}\r\nHost: x\r\nConnection: close\r\n${headers}\r\n\r\n${body}`;
  const jsonHeaders = `Content-Type: application/json\r\nContent-Length: ${json.length}`;

  it('oversized headers are refused by Node with 431 before the app sees them', async () => {
    judge(
      await raw(
        '64 KB Authorization',
        request(`${jsonHeaders}\r\nAuthorization: Bearer ${'a'.repeat(64 * 1024)}`),
      ),
      { status: 431 },
    );
    judge(
      await raw('one 20 KB header', request(`${jsonHeaders}\r\nX-Big: ${'b'.repeat(20 * 1024)}`)),
      { status: 431 },
    );
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    judge(await raw('3,000 headers', request(`${jsonHeaders}\r\n${many}`)), { status: 431 });
    judge(
      await raw(
        'a 32 KB URL',
        request(jsonHeaders, json, `POST /graphql?${'q'.repeat(32 * 1024)} HTTP/1.1`),
      ),
      { status: 431 },
    );
    // Many small headers within the size limit are fine: the request is answered.
    const fits = Array.from({ length: 500 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const answered = await raw('500 small headers', request(`${jsonHeaders}\r\n${fits}`));
    judge(answered, { status: 200 });
    expect(answered.body?.data).toEqual({ __typename: 'Query' });
  });

  it('broken framing is refused by Node with 400', async () => {
    const framing: [string, string | Buffer][] = [
      ['garbage request line', 'HELLO\r\n\r\n'],
      ['NUL in a header value', request(`${jsonHeaders}\r\nX-Nul: a\u0000b`)],
      ['space before the colon', request(`${jsonHeaders}\r\nX-Bad : v`)],
      [
        'Content-Length not a number',
        request('Content-Type: application/json\r\nContent-Length: abc'),
      ],
      ['two different Content-Lengths', request(`${jsonHeaders}\r\nContent-Length: 3`)],
      [
        'Content-Length and chunked (smuggling)',
        request(`${jsonHeaders}\r\nTransfer-Encoding: chunked`),
      ],
      [
        'bad chunk size',
        request(
          'Content-Type: application/json\r\nTransfer-Encoding: chunked',
          'zz\r\nabc\r\n0\r\n\r\n',
        ),
      ],
      ['negative Content-Length', request('Content-Type: application/json\r\nContent-Length: -1')],
    ];
    for (const [label, bytes] of framing) judge(await raw(label, bytes), { status: 400 });
    // Without a version Node takes the line for HTTP/0.9-style and the app refuses it (4xx).
    judge(await raw('no HTTP version', 'POST /graphql\r\n\r\n'), { clientError: true });
  });

  it('a body shorter than its Content-Length does not hang the server', async () => {
    const outcome = await raw(
      'truncated body',
      request('Content-Type: application/json\r\nContent-Length: 1000', '{"query":'),
      300,
    );
    // No answer yet: the server waits for the rest (requestTimeout bounds the wait). The client
    // then hangs up, which must not count as an unexpected error (checked at the end).
    expect(outcome.status).toBe(0);
  });

  it('methods, paths and content types', async () => {
    const csrf = { 'x-graphql-yoga-csrf': '1' };
    const q = encodeURIComponent('{ __typename }');
    const m = encodeURIComponent('mutation { createPost(input: { title: "via GET" }) { id } }');
    const checks: [Promise<Outcome>, Expected][] = [
      [send('PUT', { method: 'PUT', body: json }), { clientError: true }],
      [send('DELETE', { method: 'DELETE' }), { clientError: true }],
      [
        send('PATCH', {
          method: 'PATCH',
          body: json,
          headers: { 'content-type': 'application/json' },
        }),
        { status: 405 },
      ],
      [
        send('GET without CSRF header', { method: 'GET', path: `/graphql?query=${q}` }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        send('GET mutation', {
          method: 'GET',
          path: `/graphql?query=${m}`,
          headers: { ...csrf, authorization: `Bearer ${ownerA}` },
        }),
        { status: 405 },
      ],
      [
        send('GET bad variables', {
          method: 'GET',
          path: `/graphql?query=${q}&variables=%7Bnope`,
          headers: csrf,
        }),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        send('GET no query', {
          method: 'GET',
          path: '/graphql',
          headers: { ...csrf, accept: 'application/json' },
        }),
        { code: 'BAD_REQUEST' },
      ],
      [send('unknown path', { method: 'GET', path: '/graphql/../../etc/passwd' }), { status: 404 }],
      [send('unknown path 2', { method: 'POST', path: '/admin', body: json }), { status: 404 }],
      [
        post('text/plain, no CSRF header', json, { 'content-type': 'text/plain' }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('form, no CSRF header', `query=${q}`, {
          'content-type': 'application/x-www-form-urlencoded',
        }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('multipart, no CSRF header', '--x--\r\n', {
          'content-type': 'multipart/form-data; boundary=x',
        }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('text/plain with CSRF header', json, { 'content-type': 'text/plain', ...csrf }),
        { status: 415 },
      ],
      [
        post('application/xml', '<query/>', { 'content-type': 'application/xml', ...csrf }),
        { status: 415 },
      ],
      [post('no content type', json, { 'content-type': '', ...csrf }), { status: 415 }],
      [
        post('multipart, broken', '--x\r\nnonsense', {
          'content-type': 'multipart/form-data; boundary=x',
          ...csrf,
        }),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        post(
          'multipart, no operations',
          '--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--x--\r\n',
          { 'content-type': 'multipart/form-data; boundary=x', ...csrf },
        ),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [post('graphql+json', json, { 'content-type': 'application/graphql+json' }), { status: 200 }],
      [
        post('json, charset utf-16', json, { 'content-type': 'application/json; charset=utf-16' }),
        { status: 200 },
      ],
    ];
    for (const [outcome, expected] of checks) judge(await outcome, expected);
  });
});

describe('bodies: size, JSON and encoding', () => {
  const { bodyBytes } = REQUEST_LIMITS;
  const padded = (size: number) => {
    // A valid request of exactly `size` bytes: the query padded with spaces (ignored tokens).
    const prefix = '{"query":"{ __typename }';
    const suffix = '"}';
    return prefix + ' '.repeat(size - prefix.length - suffix.length) + suffix;
  };

  it('the limit is exact: a body of the limit is served, one byte more is 413', async () => {
    const atLimit = await post('body at the limit', padded(bodyBytes));
    judge(atLimit, { status: 200 });
    expect(atLimit.body?.data).toEqual({ __typename: 'Query' });
    judge(await post('body one byte over', padded(bodyBytes + 1)), {
      status: 413,
      code: 'REQUEST_ENTITY_TOO_LARGE',
    });
  });

  it('5 MB, a 10 MB variable and a batch that is too big are refused with 413', async () => {
    const huge = (n: number) =>
      JSON.stringify({ query: '{ __typename }', variables: { x: 'x'.repeat(n) } });
    judge(await post('5 MB', huge(5_000_000)), { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
    judge(
      await gql(
        '10 MB string variable',
        'mutation($t: String!) { createPost(input: { title: $t }) { id } }',
        { t: 'x'.repeat(10_000_000) },
        ownerA,
      ),
      { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' },
    );
  });

  it('50 MB with Content-Length: refused at once, without reading the body', async () => {
    const outcome = await stream('50 MB, Content-Length', 50_000_000, { contentLength: true });
    judge(outcome, { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
    // The answer came before the client had sent even the limit's worth of bytes.
    expect(outcome.sent).toBeLessThan(50_000_000);
  });

  it('chunked bodies without Content-Length: refused once the limit is read, not at the end', async () => {
    for (const total of [5_000_000, 50_000_000]) {
      const outcome = await stream(`${total / 1e6} MB, chunked`, total, { contentLength: false });
      judge(outcome, { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
      // Cut off after the limit plus what the sockets buffer (~4 MB on loopback), not at 50 MB.
      expect(outcome.sent).toBeLessThan(Math.min(total, 10 * bodyBytes));
    }
    // A small chunked body is fine.
    const small = await raw(
      'small chunked body',
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${json(JSON.stringify({ query: '{ __typename }' }))}`,
    );
    judge(small, { status: 200 });
    function json(text: string) {
      return `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`;
    }
  });

  it('malformed JSON, wrong shapes and unknown parameters are 400 BAD_REQUEST', async () => {
    const bodies = [
      '',
      ' ',
      '{',
      '{"query":',
      '{"query": "{ __typename }",}',
      "{'query': '{ __typename }'}",
      'undefined',
      'null',
      'true',
      '42',
      '"{ __typename }"',
      '[1, 2]',
      '[null]',
      '{"query": 42}',
      '{"query": null}',
      '{"query": ["{ __typename }"]}',
      '{"query": "{ __typename }", "variables": "x"}',
      '{"query": "{ __typename }", "variables": [1]}',
      '{"query": "{ __typename }", "extensions": "x"}',
      '{"query": "{ __typename }", "operationName": 5}',
      '{"query": "{ __typename }", "unknown": 1}',
      '{}',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `{"query": "{ __typename }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`.replace(
        '"variables"',
        '"nope"',
      ),
      '{"query" :: "{ __typename }"}',
    ];
    for (const body of bodies) {
      const outcome = await post(`body ${JSON.stringify(body.slice(0, 40))}`, body);
      judge(outcome, { codes: ['BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE'] });
      // No parser message quoting the body back (Yoga's `extensions.originalError`).
      expect.soft(outcome.text, outcome.label).not.toMatch(/originalError|is not valid JSON/);
    }
  });

  it('odd but valid JSON is served or refused cleanly', async () => {
    const bodies: [string, string][] = [
      [
        'deeply nested unused variable',
        `{"query": "{ __typename }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      ],
      [
        'deeply nested used variable',
        `{"query": "query($x: [String]) { posts(after: $x) { totalCount } }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      ],
      [
        '__proto__ variable',
        '{"query": "query($x: Int) { posts(first: $x) { totalCount } }", "variables": {"__proto__": {"x": 1}}}',
      ],
      [
        'constructor variable',
        '{"query": "query($x: Int) { posts(first: $x) { totalCount } }", "variables": {"constructor": {"prototype": 1}}}',
      ],
      ['duplicate keys', '{"query": "{ nope }", "query": "{ __typename }"}'],
      ['empty batch', '[]'],
      ['BOM first', '\uFEFF{"query": "{ __typename }"}'],
    ];
    for (const [label, body] of bodies) {
      judge(await post(label, body, { authorization: `Bearer ${ownerA}` }), {
        codes: ['BAD_REQUEST', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'],
        orData: true,
      });
    }
  });

  it('invalid UTF-8 is refused or decoded to U+FFFD, never stored as raw bytes', async () => {
    const bytes = (...parts: (string | number[])[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    // In the JSON structure: invalid JSON.
    judge(await post('invalid UTF-8 outside strings', bytes('{"query"', [0xff, 0xfe], ':1}')), {
      code: 'BAD_REQUEST',
    });
    judge(
      await post(
        'UTF-16 body',
        Buffer.from(JSON.stringify({ query: '{ __typename }' }), 'utf16le'),
      ),
      {
        code: 'BAD_REQUEST',
      },
    );
    // Inside a string: the decoder replaces each bad sequence; an overlong NUL (C0 80) does
    // not smuggle a NUL through.
    const sequences: [string, number[]][] = [
      ['0xFF', [0xff]],
      ['overlong NUL', [0xc0, 0x80]],
      ['encoded surrogate', [0xed, 0xa0, 0x80]],
      ['truncated 4-byte', [0xf0, 0x9f, 0x9a]],
      ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ];
    for (const [label, sequence] of sequences) {
      const outcome = await post(
        `title with ${label}`,
        bytes(
          '{"query":"mutation($t: String!) { createPost(input: { title: $t }) { title } }","variables":{"t":"a',
          sequence,
          'b"}}',
        ),
        { authorization: `Bearer ${ownerA}` },
      );
      judge(outcome, { status: 200 });
      const title = (outcome.body?.data?.createPost as { title: string } | undefined)?.title;
      expect.soft(title, label).toMatch(/^a\uFFFD+b$/);
    }
  });
});

describe('slow clients', () => {
  it('a client that never finishes its headers is cut off (408), without blocking others', async () => {
    // The server's own options, with the timeouts shortened so the test does not wait 10 s.
    const quick = createServer(
      {
        ...HTTP_SERVER_OPTIONS,
        headersTimeout: 300,
        requestTimeout: 600,
        connectionsCheckingInterval: 100,
      },
      api.yoga,
    );
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const address = quick.address();
    const quickPort = typeof address === 'object' && address ? address.port : 0;
    try {
      countCase();
      const text = await new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(quickPort, '127.0.0.1', () =>
          socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: '),
        );
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', () => {});
        socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
        socket.setTimeout(5_000, () => socket.destroy());
      });
      expect(text).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      quick.closeAllConnections();
      await new Promise((resolve) => quick.close(resolve));
    }
  });
});

stillServing();
