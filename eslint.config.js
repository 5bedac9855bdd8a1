// Lint rules, including the import-direction rule that keeps the layout's boundaries
// (see docs/architecture.md): each folder lists the folders it must never import from.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = ['fs', 'net', 'http', 'http2', 'https', 'child_process', 'dgram', 'tls'].flatMap((m) => [
  m,
  `node:${m}`,
  `${m}/*`,
  `node:${m}/*`,
]);

/** Folders under src/ and the folders they may not import from. */
const forbidden = {
  common: [
    'api',
    'xds',
    'translate',
    'control-plane',
    'proxy',
    'security',
    'up',
    'cli',
    'runner',
    'dashboard',
  ],
  api: ['xds', 'translate', 'control-plane', 'proxy', 'security', 'up', 'cli', 'runner', 'dashboard'],
  xds: ['api', 'translate', 'control-plane', 'proxy', 'security', 'up', 'cli', 'runner', 'dashboard'],
  translate: ['control-plane', 'proxy', 'security', 'up', 'cli', 'runner', 'dashboard'],
  'control-plane': ['proxy', 'up', 'cli', 'runner', 'dashboard'],
  proxy: ['control-plane', 'translate', 'up', 'cli', 'runner', 'dashboard'],
  security: ['control-plane', 'proxy', 'translate', 'up', 'cli', 'runner', 'dashboard'],
  // trellis up runs the control plane in-process and the proxies as child processes.
  up: ['proxy', 'translate', 'cli', 'runner', 'dashboard'],
  runner: ['cli', 'dashboard'],
};
const pure = new Set(['api', 'translate']);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  ...Object.entries(forbidden).map(([dir, banned]) => ({
    files: [`src/${dir}/**/*.ts`],
    ignores: pure.has(dir) ? [`src/${dir}/**/*.test.ts`] : [],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...banned.map((b) => ({
              group: [`**/${b}/*`, `**/${b}/**`],
              message: `src/${dir} must not import from src/${b} (see docs/architecture.md, "Layout")`,
            })),
            ...(pure.has(dir)
              ? [
                  {
                    group: ioModules,
                    message: `src/${dir} is pure: no I/O modules (see docs/architecture.md)`,
                  },
                ]
              : []),
          ],
        },
      ],
    },
  })),
  {
    files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', 'examples/**/*.{ts,js}', 'bin/**/*.js'],
    rules: { 'no-console': 'off' },
  },
);
