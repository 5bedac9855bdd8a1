// Header mutations: each Envoy append action, removes before adds, decisions against the headers
// before the batch, empty values skipped, route-then-virtual-host order, and the empty fast path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderAppendAction, HeaderMutation } from '../config/types.js';
import { applyHeaderMutation, applyRequestHeaderMutations, applyResponseHeaderMutations } from './headers.js';
import { decodeVhost, vh } from './test-support.js';

const add = (name: string, value: string, action: HeaderAppendAction): HeaderMutation => ({
  add: [{ name, value, action }],
  remove: [],
});

describe('applyHeaderMutation', () => {
  const cases: [string, string[], HeaderMutation, string[]][] = [
    ['append to absent', ['a', '1'], add('x', 'v', 'append'), ['a', '1', 'x', 'v']],
    ['append to present', ['x', '1'], add('x', 'v', 'append'), ['x', '1', 'x', 'v']],
    ['add_if_absent, absent', ['a', '1'], add('x', 'v', 'add_if_absent'), ['a', '1', 'x', 'v']],
    ['add_if_absent, present', ['x', '1'], add('x', 'v', 'add_if_absent'), ['x', '1']],
    [
      'overwrite_if_exists_or_add, absent',
      ['a', '1'],
      add('x', 'v', 'overwrite_if_exists_or_add'),
      ['a', '1', 'x', 'v'],
    ],
    [
      'overwrite_if_exists_or_add, repeated',
      ['x', '1', 'a', '2', 'x', '3'],
      add('x', 'v', 'overwrite_if_exists_or_add'),
      ['x', 'v', 'a', '2'],
    ],
    ['overwrite_if_exists, absent', ['a', '1'], add('x', 'v', 'overwrite_if_exists'), ['a', '1']],
    [
      'overwrite_if_exists, present',
      ['a', '1', 'x', '2'],
      add('x', 'v', 'overwrite_if_exists'),
      ['a', '1', 'x', 'v'],
    ],
    ['empty value not added', ['a', '1'], add('x', '', 'append'), ['a', '1']],
    [
      'remove every occurrence',
      ['x', '1', 'a', '2', 'x', '3', 'y', '4'],
      { add: [], remove: ['x', 'y'] },
      ['a', '2'],
    ],
    [
      'remove before add',
      ['x', '1'],
      { add: [{ name: 'x', value: 'v', action: 'add_if_absent' }], remove: ['x'] },
      ['x', 'v'],
    ],
    [
      'decisions against the headers before the adds',
      ['a', '1'],
      {
        add: [
          { name: 'x', value: 'v', action: 'append' },
          { name: 'x', value: 'w', action: 'add_if_absent' },
          { name: 'y', value: 'v', action: 'overwrite_if_exists_or_add' },
          { name: 'y', value: 'w', action: 'overwrite_if_exists' },
        ],
        remove: [],
      },
      ['a', '1', 'y', 'v', 'x', 'v', 'x', 'w'],
    ],
    [
      'overwrites before appends',
      ['x', '1'],
      {
        add: [
          { name: 'x', value: 'a', action: 'append' },
          { name: 'x', value: 'o', action: 'overwrite_if_exists' },
        ],
        remove: [],
      },
      ['x', 'o', 'x', 'a'],
    ],
  ];
  for (const [label, before, m, after] of cases)
    it(label, () => {
      const h = [...before];
      applyHeaderMutation(h, m);
      assert.deepEqual(h, after);
    });

  it('handles more options than fit a bit mask', () => {
    const h: string[] = ['h0', 'old'];
    const opts = Array.from({ length: 40 }, (_, i) => ({
      name: `h${i}`,
      value: String(i),
      action: 'add_if_absent' as const,
    }));
    applyHeaderMutation(h, { add: opts, remove: [] });
    assert.equal(h.length, 80);
    assert.deepEqual(h.slice(0, 4), ['h0', 'old', 'h1', '1']);
    assert.deepEqual(h.slice(-2), ['h39', '39']);
  });

  it('leaves the headers alone for an empty mutation', () => {
    const h = ['a', '1'];
    applyHeaderMutation(h, { add: [], remove: [] });
    assert.deepEqual(h, ['a', '1']);
  });

  it('applies the route, then the virtual host (Envoy: the less specific overwrite wins)', () => {
    const v = decodeVhost(
      vh(
        'web',
        ['web'],
        [
          {
            match: { prefix: '/' },
            route: { cluster: 'c' },
            request_headers_to_add: [
              { header: { key: 'x-who', value: 'route' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            ],
            response_headers_to_add: [{ header: { key: 'x-r', value: 'route' } }],
            response_headers_to_remove: ['server'],
          },
        ],
        {
          request_headers_to_add: [
            { header: { key: 'x-who', value: 'vhost' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-seen', value: 'vh' }, append_action: 'OVERWRITE_IF_EXISTS' },
          ],
          response_headers_to_add: [
            { header: { key: 'x-r', value: 'vhost' }, append_action: 'ADD_IF_ABSENT' },
          ],
        },
      ),
    );
    const route = v.routes[0]!;
    const rq = ['x-who', 'app'];
    applyRequestHeaderMutations(rq, route, v);
    assert.deepEqual(rq, ['x-who', 'vhost']);
    const rs = ['server', 'app', 'content-length', '0'];
    applyResponseHeaderMutations(rs, route, v);
    assert.deepEqual(rs, ['content-length', '0', 'x-r', 'route']);
  });
});
