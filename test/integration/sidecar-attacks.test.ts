// The attack suite over raw HTTP/1.1 sockets (issue 3 "Hostile input", issue 5's bypass table,
// ../shared/notes/proxy-hardening.md): smuggling variants the other suites only check at the parser
// (TE.CL, TE obfuscations, chunk-size tricks, bare CR/LF, absolute-form vs Host, bad header names),
// bodies left unread behind a local answer, HTTP/1.0 keep-alive, h2c upgrade smuggling, CONNECT,
// raw bytes in paths against a path policy, and impersonation headers in any case. Each attack must
// get its status, leave the connection closed after a framing error, never reach the app, and the
// proxy must serve the next request.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ListenerSecurityConfig } from '../../src/proxy/authz/types.js';
import { STRICT_NORMALIZATION } from '../../src/proxy/authz/normalize-path.js';
import type { ProxyConfig } from '../../src/proxy/config/types.js';
import type { DataPlane } from '../../src/proxy/data-plane.js';
import {
  buildConfig,
  rawExchange,
  RawClient,
  route,
  startApp,
  startPlane,
  startRaw,
  vhost,
  within,
  type FakeApp,
} from './sidecar-harness.js';

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nhost: svc\r\n\r\n';

/** Denies /admin and everything under it (the path policy the bypass attempts aim at). */
const DENY_ADMIN: ListenerSecurityConfig = {
  normalization: STRICT_NORMALIZATION,
  rbac: [
    {
      action: 'DENY',
      policies: [
        {
          name: 'default/no-admin[0]',
          permissions: [{ t: 'path', m: { type: 'prefix', value: '/admin', ignoreCase: true } }],
          principals: [{ t: 'any' }],
        },
      ],
    },
  ],
};

function withSecurity(cfg: ProxyConfig, security: ListenerSecurityConfig): ProxyConfig {
  const l = cfg.listeners.get('l');
  assert.ok(l !== undefined);
  return { ...cfg, listeners: new Map([['l', { ...l, direction: 'inbound' as const, security }]]) };
}

describe('sidecar attacks (h1): smuggling and framing', { timeout: 120_000 }, () => {
  let app: FakeApp;
  let dp: DataPlane;
  let port: number;
  before(async () => {
    app = await startApp('app');
    ({ dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
        clusters: { c: [app.port] },
      }),
      { limits: { requestHeadersTimeoutMs: 5_000 } },
    ));
  });
  after(async () => {
    await dp.close();
    await app.close();
  });

  const urls = (from: number): string[] => app.requests.slice(from).map((r) => `${r.method} ${r.url}`);

  /** The proxy still serves a fresh connection. */
  const alive = async (): Promise<void> => {
    const c = new RawClient(port);
    try {
      const r = await within(c.get('/alive'), 5_000, 'a request after the attack');
      assert.equal(r.status, 200);
    } finally {
      c.close();
    }
  };

  // Rejected in the head: nothing reaches the app, the status is the one given, the connection closes.
  const inHead: [string, string, number][] = [
    [
      'TE.CL (TE first)',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n5c\r\n${SMUGGLED}\r\n0\r\n\r\n`,
      400,
    ],
    [
      'CL.TE with TE in upper case',
      `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE chunked then TE identity (two fields)',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\ntransfer-encoding: identity\r\ncontent-length: 3\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE identity alone',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: identity\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE chunked twice',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE xchunked',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE with \\x0b',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: \x0bchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE with \\x0c',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding:\x0cchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE name with a tab before the colon',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding\t: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE gzip, chunked (unsupported coding)',
      `POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      501,
    ],
    [
      'TE on HTTP/1.0',
      `POST / HTTP/1.0\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'TE folded onto the previous line',
      `POST / HTTP/1.1\r\nhost: svc\r\nx-a: 1\r\n transfer-encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'first header line starts with a space',
      `POST / HTTP/1.1\r\n transfer-encoding: chunked\r\nhost: svc\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
    ],
    ['empty Content-Length', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length:\r\n\r\n${SMUGGLED}`, 400],
    ['Content-Length list', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 0, 38\r\n\r\n${SMUGGLED}`, 400],
    ['signed Content-Length', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: +0\r\n\r\n${SMUGGLED}`, 400],
    ['hex Content-Length', `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 0x0\r\n\r\n${SMUGGLED}`, 400],
    [
      'Content-Length overflow',
      `POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 18446744073709551617\r\n\r\n${SMUGGLED}`,
      400,
    ],
    ['bare CR in the request line', `GET / HTTP/1.1\rhost: svc\r\n\r\n${SMUGGLED}`, 400],
    ['bare CR ending a header line', `GET / HTTP/1.1\r\nhost: svc\r\nx-a: 1\r\r\n\r\n${SMUGGLED}`, 400],
    ['bare CR inside a value', `GET / HTTP/1.1\r\nhost: svc\r\nx-a: a\rGET /smuggled\r\n\r\n`, 400],
    ['bare LF between header lines', `GET / HTTP/1.1\r\nhost: svc\nx-a: 1\r\n\r\n${SMUGGLED}`, 400],
    ['bare LF ending the head', `GET / HTTP/1.1\r\nhost: svc\r\n\n${SMUGGLED}`, 400],
    ['NUL in the request target', `GET /a\0b HTTP/1.1\r\nhost: svc\r\n\r\n${SMUGGLED}`, 400],
    ['tab in the request line', `GET /\tHTTP/1.1\r\nhost: svc\r\n\r\n${SMUGGLED}`, 400],
    ['trailing space after the version', `GET / HTTP/1.1 \r\nhost: svc\r\n\r\n${SMUGGLED}`, 400],
    ['header name with a space inside', `GET / HTTP/1.1\r\nhost: svc\r\nx a: b\r\n\r\n${SMUGGLED}`, 400],
    ['header name with a NUL', `GET / HTTP/1.1\r\nhost: svc\r\nx\0a: b\r\n\r\n${SMUGGLED}`, 400],
    ['header line without a colon', `GET / HTTP/1.1\r\nhost: svc\r\nGET /smuggled HTTP/1.1\r\n\r\n`, 400],
    ['empty header name', `GET / HTTP/1.1\r\nhost: svc\r\n: x\r\n\r\n${SMUGGLED}`, 400],
    ['Host with a space inside', `GET / HTTP/1.1\r\nhost: svc evil\r\n\r\n${SMUGGLED}`, 400],
    ['Host with userinfo', `GET / HTTP/1.1\r\nhost: evil@svc\r\n\r\n${SMUGGLED}`, 400],
    [
      'absolute-form with a different Host',
      `GET http://other/ HTTP/1.1\r\nhost: svc\r\n\r\n${SMUGGLED}`,
      400,
    ],
    [
      'absolute-form with a different port in Host',
      `GET http://svc:81/ HTTP/1.1\r\nhost: svc\r\n\r\n${SMUGGLED}`,
      400,
    ],
    ['absolute-form with userinfo', `GET http://evil@svc/ HTTP/1.1\r\nhost: svc\r\n\r\n${SMUGGLED}`, 400],
    ['HTTP/1.1 without Host', `GET / HTTP/1.1\r\nx-a: 1\r\n\r\n${SMUGGLED}`, 400],
    [
      'CONNECT with a body',
      `CONNECT svc:80 HTTP/1.1\r\nhost: svc:80\r\ncontent-length: 38\r\n\r\n${SMUGGLED}`,
      400,
    ],
  ];
  for (const [name, bytes, status] of inHead) {
    it(`${name}: ${status}, closed, the app sees nothing`, async () => {
      const from = app.requests.length;
      const { responses, closed } = await rawExchange(port, bytes, 99);
      assert.equal(responses.length, 1, JSON.stringify(responses));
      assert.equal(responses[0]!.status, status);
      assert.match(responses[0]!.headers['x-trellis-error'] ?? '', /sidecar=sidecar-test/);
      assert.ok(closed, 'the connection is closed after a framing error');
      assert.deepEqual(urls(from), []);
      await alive();
    });
  }

  // The head is fine, the chunked body is not: the request may have started upstream, but the
  // connection is cut, the app never gets a complete request, and the smuggled one is never parsed.
  const inBody: [string, string][] = [
    ['chunk size overflow', `fffffffffffffffff1\r\n${SMUGGLED}`],
    ['chunk size with 17 leading zeros', `000000000000000005\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size 0x-prefixed', `0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['negative chunk size', `-1\r\n${SMUGGLED}`],
    ['chunk extension ended by a bare LF', `5;a=b\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk extension with a bare CR', `5;a\rb\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size line ended by a bare LF', `5\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['space after the chunk size', `5 \r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk data longer than its size', `3\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk data ended by a bare LF', `5\r\nhello\n0\r\n\r\n${SMUGGLED}`],
    ['a request line as the trailer', `0\r\n${SMUGGLED}`],
    ['trailer with a bare LF', `0\r\nx-t: 1\n\r\n${SMUGGLED}`],
  ];
  for (const [name, body] of inBody) {
    it(`chunked body, ${name}: cut, no complete request, nothing smuggled`, async () => {
      const from = app.requests.length;
      const { responses, closed } = await rawExchange(
        port,
        `POST /chunked HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n${body}`,
        99,
      );
      assert.ok(closed, 'the connection is closed');
      for (const r of responses) assert.ok(r.status >= 400, `answered ${r.status}`);
      await alive();
      assert.deepEqual(
        urls(from).filter((u) => u !== 'GET /alive'),
        [],
        'the app got neither the broken request complete nor the smuggled one',
      );
    });
  }

  // Accepted framings must frame the same way the app would: the body is the chunked body and the
  // bytes after it are the next request.
  const accepted: [string, string][] = [
    ['TE in upper case', 'TRANSFER-ENCODING: CHUNKED'],
    ['TE with tabs around the value', 'transfer-encoding:\tchunked\t'],
    ['TE chunked with leading zeros in the size', 'transfer-encoding: chunked'],
  ];
  for (const [name, te] of accepted) {
    it(`${name}: accepted, the body is the chunked body and the next request is separate`, async () => {
      const from = app.requests.length;
      const size = name.includes('leading zeros') ? '0005' : '5';
      const c = new RawClient(port);
      const rs = await within(
        c.send(
          `POST /one HTTP/1.1\r\nhost: svc\r\n${te}\r\n\r\n${size};ext=1\r\nhello\r\n0\r\nx-trailer: t\r\n\r\nGET /two HTTP/1.1\r\nhost: svc\r\n\r\n`,
          2,
        ),
        5_000,
        'two responses',
      );
      c.close();
      assert.deepEqual(
        rs.map((r) => r.status),
        [200, 200],
      );
      assert.deepEqual(urls(from), ['POST /one', 'GET /two']);
      assert.equal(app.requests[from]!.body, 'hello');
    });
  }

  it('a body behind a local 404 is read and dropped, never parsed as the next request', async () => {
    const from = app.requests.length;
    const body = `${SMUGGLED}`;
    const c = new RawClient(port);
    const [r1] = await within(
      c.send(`POST / HTTP/1.1\r\nhost: nowhere\r\ncontent-length: ${body.length}\r\n\r\n${body}`),
      5_000,
      '404',
    );
    assert.equal(r1!.status, 404);
    if (!c.closed) {
      const [r2] = await within(c.send('GET /after HTTP/1.1\r\nhost: svc\r\n\r\n'), 5_000, 'next');
      assert.ok(r2 === undefined || r2.status === 200);
    }
    c.close();
    assert.ok(!urls(from).includes('GET /smuggled'), JSON.stringify(urls(from)));
  });

  it('expect: 100-continue answered locally (404): a body sent afterwards is never parsed as a request', async () => {
    const from = app.requests.length;
    const body = `${SMUGGLED}`;
    const c = new RawClient(port);
    const [r1] = await within(
      c.send(
        `POST / HTTP/1.1\r\nhost: nowhere\r\nexpect: 100-continue\r\ncontent-length: ${body.length}\r\n\r\n`,
      ),
      5_000,
      'the local answer',
    );
    assert.equal(r1!.status, 404);
    // The client sends the body anyway (as curl does after its wait), then a real request.
    const rest = c.closed
      ? []
      : await within(
          c.send(`${body}GET /after HTTP/1.1\r\nhost: svc\r\n\r\n`),
          5_000,
          'the request after the body',
        );
    c.close();
    assert.ok(!urls(from).includes('GET /smuggled'), JSON.stringify(urls(from)));
    for (const r of rest) assert.equal(r.status, 200);
  });

  it('HTTP/1.0 with keep-alive: sized response, the connection serves the next request', async () => {
    const c = new RawClient(port);
    const [r1] = await within(
      c.send('GET /k1 HTTP/1.0\r\nhost: svc\r\nconnection: keep-alive\r\n\r\n'),
      5_000,
      'first 1.0 response',
    );
    assert.equal(r1!.status, 200);
    assert.equal(r1!.headers['transfer-encoding'], undefined, 'never chunked to an HTTP/1.0 client');
    if ((r1!.headers['connection'] ?? '').toLowerCase() === 'keep-alive') {
      assert.ok(r1!.headers['content-length'] !== undefined);
      const [r2] = await within(c.send('GET /k2 HTTP/1.0\r\nhost: svc\r\n\r\n'), 5_000, 'second');
      assert.equal(r2!.status, 200);
      await within(
        new Promise<void>((r) => (c.closed ? r() : c.socket.once('close', () => r()))),
        5_000,
        'close after the request without keep-alive',
      );
    } else {
      await within(
        new Promise<void>((r) => (c.closed ? r() : c.socket.once('close', () => r()))),
        5_000,
        'close',
      );
    }
    c.close();
  });

  it('HTTP/1.0 without keep-alive: the bytes after the request are never parsed', async () => {
    const from = app.requests.length;
    const { responses, closed } = await rawExchange(
      port,
      `POST /ten HTTP/1.0\r\nhost: svc\r\n\r\n${SMUGGLED}`,
      99,
    );
    assert.equal(responses[0]?.status, 200);
    assert.ok(closed);
    assert.deepEqual(urls(from), ['POST /ten']);
  });

  it('CONNECT to an app that does not tunnel: an error, no hang, the proxy stays up', async () => {
    const from = app.requests.length;
    const { responses, closed } = await rawExchange(
      port,
      'CONNECT svc:80 HTTP/1.1\r\nhost: svc:80\r\n\r\n',
      1,
      8_000,
    );
    assert.ok(closed || responses.length === 1);
    for (const r of responses) assert.ok(r.status >= 400, `CONNECT answered ${r.status}`);
    assert.deepEqual(urls(from), []);
    await alive();
  });

  it('x-forwarded-client-cert and x-trellis-* in any case are stripped at the outbound edge', async () => {
    const c = new RawClient(port);
    const r = await within(
      c.get(
        '/strip',
        'svc',
        'X-Forwarded-Client-Cert: By=spiffe://evil\r\nX-TRELLIS-PEER: evil\r\nx-Trellis-Attempt-Count: 9\r\nX-Keep: 1\r\n',
      ),
      5_000,
      'response',
    );
    c.close();
    const h = JSON.parse(r.body).headers as Record<string, string>;
    assert.equal(h['x-forwarded-client-cert'], undefined);
    assert.equal(h['x-trellis-peer'], undefined);
    assert.notEqual(h['x-trellis-attempt-count'], '9');
    assert.equal(h['x-keep'], '1');
  });
});

describe('sidecar attacks (h1): a hostile upstream', { timeout: 60_000 }, () => {
  // Answers each request with `reply(n)` (n counts requests on that connection).
  async function plane(reply: (path: string) => string | [string, string]): Promise<{
    port: number;
    conns: () => number;
    close(): Promise<void>;
  }> {
    let conns = 0;
    const up = await startRaw((s) => {
      conns++;
      let buf = '';
      let rest: string | null = null;
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (;;) {
          const he = buf.indexOf('\r\n\r\n');
          if (he < 0) return;
          const path = buf.slice(0, he).split(' ')[1] ?? '';
          buf = buf.slice(he + 4);
          const r = reply(path);
          if (rest !== null) {
            // The rest of the unsolicited response first, when the next request is already waiting
            // on this connection: a proxy that kept parsing would hand it to that request.
            s.write(rest);
            rest = null;
            const later = typeof r === 'string' ? r : r[0];
            setTimeout(() => s.write(later), 50);
          } else if (typeof r === 'string') s.write(r);
          else {
            s.write(r[0]);
            rest = r[1];
          }
        }
      });
    });
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
        clusters: { c: [up.port] },
      }),
    );
    return {
      port,
      conns: () => conns,
      close: async () => {
        await dp.close();
        await up.close();
      },
    };
  }

  const POISON = 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\nx-poison: 1\r\n\r\nPOISON';
  const cases: [string, string][] = [
    ['a second response after a complete one', `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok${POISON}`],
    [
      'bytes after the last chunk',
      `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n${POISON}`,
    ],
    ['a body longer than its content-length', `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokPOISON`],
  ];
  for (const [name, bytes] of [
    ...cases,
    [
      'a second response whose head is finished later',
      [
        'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nx-poison: 1\r\ncontent-le',
        'ngth: 6\r\n\r\nPOISON',
      ],
    ] as [string, [string, string]],
  ]) {
    it(`${name}: never served to the next request (no response queue poisoning)`, async () => {
      const p = await plane((path) =>
        path === '/first' ? bytes : 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nclean',
      );
      try {
        const a = await rawExchange(p.port, 'GET /first HTTP/1.1\r\nhost: svc\r\n\r\n', 1);
        assert.equal(a.responses[0]?.status, 200);
        assert.equal(a.responses[0]?.body, 'ok');
        for (let i = 0; i < 3; i++) {
          const b = await rawExchange(p.port, `GET /next${i} HTTP/1.1\r\nhost: svc\r\n\r\n`, 1);
          assert.equal(b.responses[0]?.headers['x-poison'], undefined, 'a stale response was served');
          assert.equal(b.responses[0]?.body, 'clean');
        }
      } finally {
        await p.close();
      }
    });
  }

  it('a response with both content-length and transfer-encoding: 502, the connection is not reused', async () => {
    const p = await plane((path) =>
      path === '/first'
        ? `HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${POISON}`
        : 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nclean',
    );
    try {
      const a = await rawExchange(p.port, 'GET /first HTTP/1.1\r\nhost: svc\r\n\r\n', 1);
      assert.equal(a.responses[0]?.status, 502);
      assert.match(a.responses[0]?.headers['x-trellis-error'] ?? '', /^UPSTREAM_BAD_RESPONSE/);
      const before = p.conns();
      const b = await rawExchange(p.port, 'GET /next HTTP/1.1\r\nhost: svc\r\n\r\n', 1);
      assert.equal(b.responses[0]?.body, 'clean');
      assert.equal(p.conns(), before + 1, 'a fresh upstream connection');
    } finally {
      await p.close();
    }
  });
});

describe('sidecar attacks (h1): h2c upgrade smuggling', { timeout: 60_000 }, () => {
  // An app that would switch to h2c if asked (as Go's h2c handler does): it records every head and
  // every byte it receives after a 101.
  const heads: string[] = [];
  let tunnelled = '';
  let upstream: { port: number; close(): Promise<void> };
  let dp: DataPlane;
  let port: number;
  before(async () => {
    upstream = await startRaw((s) => {
      let buf = '';
      let switched = false;
      s.on('data', (d: Buffer) => {
        if (switched) {
          tunnelled += d.toString('latin1');
          return;
        }
        buf += d.toString('latin1');
        for (;;) {
          const he = buf.indexOf('\r\n\r\n');
          if (he < 0) return;
          const head = buf.slice(0, he);
          buf = buf.slice(he + 4);
          heads.push(head);
          if (/\r\nupgrade:\s*h2c/i.test(head)) {
            switched = true;
            s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n');
            tunnelled += buf;
            return;
          }
          s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    ({ dp, port } = await startPlane(
      withSecurity(
        buildConfig({
          vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
          clusters: { c: [upstream.port] },
        }),
        DENY_ADMIN,
      ),
    ));
  });
  after(async () => {
    await dp.close();
    await upstream.close();
  });

  for (const token of ['h2c', 'H2C', ' h2c ']) {
    it(`Upgrade: ${JSON.stringify(token)} is not passed on: no tunnel past the policy`, async () => {
      const from = heads.length;
      tunnelled = '';
      const { responses } = await rawExchange(
        port,
        [
          `GET / HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade:${token}\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
          // What would go through the tunnel: the h2 preface, then streams past the policy.
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        ],
        1,
      );
      assert.equal(responses[0]?.status, 200, JSON.stringify(responses));
      const seen = heads.slice(from);
      assert.equal(seen.length, 1);
      assert.doesNotMatch(seen[0]!, /\r\nupgrade:/i, 'the app never sees the h2c upgrade');
      assert.doesNotMatch(seen[0]!, /\r\nhttp2-settings:/i);
      // A tunnel would carry these bytes (an h2 request for /admin) past the DENY policy.
      const c = new RawClient(port);
      const r = await within(c.get('/admin'), 5_000, '/admin after the upgrade attempt');
      assert.equal(r.status, 403);
      c.close();
      assert.equal(tunnelled, '');
    });
  }
});

describe('sidecar attacks (h1): raw bytes in the path against a path policy', { timeout: 60_000 }, () => {
  let app: FakeApp;
  let dp: DataPlane;
  let port: number;
  before(async () => {
    app = await startApp('app');
    ({ dp, port } = await startPlane(
      withSecurity(
        buildConfig({
          vhosts: [vhost('svc', ['*'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
          clusters: { c: [app.port] },
        }),
        DENY_ADMIN,
      ),
    ));
  });
  after(async () => {
    await dp.close();
    await app.close();
  });

  it('inbound: a client-sent x-forwarded-client-cert (any case) never reaches the app', async () => {
    const from = app.requests.length;
    const c = new RawClient(port);
    const r = await within(
      c.get(
        '/xfcc',
        'svc',
        'X-Forwarded-Client-Cert: By=spiffe://td/ns/default/sa/app;URI=spiffe://td/ns/default/sa/admin\r\n',
      ),
      5_000,
      'response',
    );
    c.close();
    assert.equal(r.status, 200);
    const seen = app.requests.slice(from);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-forwarded-client-cert'], undefined);
  });

  const ATTEMPTS: string[] = [
    'GET /admin\0 HTTP/1.1',
    'GET /api/\0/../admin HTTP/1.1',
    'GET /api\\..\\admin HTTP/1.1',
    'GET /api/..\\admin HTTP/1.1',
    'GET /api/%2e%2e/admin HTTP/1.1',
    'GET /api/%2E%2e%2fadmin HTTP/1.1',
    'GET /api%5c..%5cadmin HTTP/1.1',
    'GET /api/..;/admin HTTP/1.1',
    'GET //admin HTTP/1.1',
    'GET /./admin HTTP/1.1',
    'GET /ADMIN HTTP/1.1',
    'GET /%41dmin HTTP/1.1',
    'GET http://svc/admin HTTP/1.1',
    'GET http://svc//admin HTTP/1.1',
    'GET http://svc/api/../admin HTTP/1.1',
    'GET http://svc HTTP/1.1',
    'GET admin HTTP/1.1',
    'GET * HTTP/1.1',
    'OPTIONS * HTTP/1.1',
    'GET ../admin HTTP/1.1',
    'get /admin HTTP/1.1',
  ];
  for (const line of ATTEMPTS) {
    it(`${JSON.stringify(line)}: refused, the app never sees /admin`, async () => {
      const from = app.requests.length;
      const { responses, closed } = await rawExchange(port, `${line}\r\nhost: svc\r\n\r\n`, 1);
      assert.ok(responses.length === 1 || closed);
      const status = responses[0]?.status ?? 0;
      const reached = app.requests.slice(from).map((r) => r.url);
      // `GET http://svc` is GET / (RFC 9112 §3.2.2); `OPTIONS *` is a request for the server as a
      // whole: either may pass, but nothing that reaches the app is (a spelling of) /admin.
      assert.ok(
        reached.every((u) => !/admin/i.test(u)),
        `${line} reached the app as ${JSON.stringify(reached)}`,
      );
      if (reached.length === 0)
        assert.ok([400, 403, 404, 405, 501].includes(status), `${line} answered ${status}`);
      else assert.equal(status, 200);
    });
  }
});

describe('sidecar attacks (h1): a pipelining client that never reads', { timeout: 60_000 }, () => {
  it('5,000 pipelined requests: the proxy stops reading (backpressure) instead of buffering answers', async () => {
    const big = Buffer.alloc(64 * 1024, 0x61);
    const app = await startApp('big', (_req, res) => res.end(big));
    const { dp, port } = await startPlane(
      buildConfig({
        vhosts: [vhost('svc', ['svc'], [route('r', '/', [{ name: 'c', weight: 1 }])])],
        clusters: { c: [app.port] },
      }),
    );
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.pause();
    try {
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write('GET / HTTP/1.1\r\nhost: svc\r\n\r\n'.repeat(5_000));
      // Wait until forwarding stalls (the same count twice, 300 ms apart; 8 s at most).
      let seen = -1;
      for (let i = 0; i < 26 && app.requests.length !== seen; i++) {
        seen = app.requests.length;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(app.requests.length, seen, 'stalled: nothing more is forwarded');
      assert.ok(seen < 500, `the app got ${seen} requests for a client that reads nothing`);
      // Another client is served meanwhile.
      const c = new RawClient(port);
      const r = await within(c.get('/other'), 5_000, 'another client');
      c.close();
      assert.equal(r.status, 200);
    } finally {
      s.destroy();
      await dp.close();
      await app.close();
    }
  });
});
