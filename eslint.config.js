// @ts-check
// One linter for the whole tree. Type-aware rules (floating promises, exhaustive switches) read the root
// tsconfig; the layer rules below enforce design.md section 2 at the level of a single file, and
// .dependency-cruiser.cjs enforces it across files.
import { builtinModules } from 'node:module'
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

const why = 'take a Clock / Prng / tick instead (design.md: determinism below src/node)'

/** Layers that must be deterministic: real time, randomness and timers enter only through src/node. */
const deterministicLayers = ['core', 'log', 'knowledge', 'store', 'gossip', 'transport']

const escapeRegex = (/** @type {string} */ s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** `fs`, `fs/promises`, `_http_agent`…: built-ins named without the node: prefix. */
const bareBuiltins = builtinModules.filter((m) => !m.startsWith('node:'))
const bareBuiltinPattern = {
  regex: `^(?:${bareBuiltins.map(escapeRegex).join('|')})$`,
  message: "Name Node built-ins with the node: prefix ('node:fs', not 'fs').",
}

/**
 * no-restricted-imports options for a layer. A later config object replaces a rule's options rather than
 * merging them, so every layer's list repeats the bare-builtin ban.
 * @param {{ regex: string, message: string }[]} patterns
 */
const restrictImports = (...patterns) => ['error', { patterns: [bareBuiltinPattern, ...patterns] }]

/**
 * Layer folders -> files, leaving out the tests beside the code and their helpers (`x.test.ts`,
 * `x.test-util.ts`), which may use node:test, node:assert…
 */
const layerSources = (/** @type {string[]} */ ...layers) => ({
  files: layers.map((l) => `src/${l}/**/*.ts`),
  ignores: ['**/*.test.ts', '**/*.test-*.ts'],
})

/** Manual globals: the `globals` package is not a dependency, and these files need only a handful. */
const nodeGlobals = /** @type {const} */ ({
  process: 'readonly',
  console: 'readonly',
  URL: 'readonly',
  performance: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
})

export default defineConfig(
  { ignores: ['bench/results/**', 'tmp/**', 'coverage/**', 'dist/**'] },

  js.configs.recommended,

  // TypeScript everywhere it runs: src, sim, bench (the files tsconfig.json includes).
  {
    files: ['src/**/*.ts', 'sim/**/*.ts', 'bench/**/*.ts'],
    extends: [tseslint.configs.recommended],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      'no-restricted-imports': restrictImports(),
    },
  },

  // Determinism below src/node (tests included: style.md says no real time in tests either).
  {
    files: deterministicLayers.map((l) => `src/${l}/**/*.ts`),
    rules: {
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'].map((name) => ({
          name,
          message: `${name} schedules on real time: ${why}.`,
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: `Date.now reads the wall clock: ${why}.` },
        { object: 'Math', property: 'random', message: `Math.random is unseeded: ${why}.` },
        { object: 'performance', property: 'now', message: `performance.now reads real time: ${why}.` },
        { object: 'process', property: 'nextTick', message: `process.nextTick schedules work: ${why}.` },
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'].map((property) => ({
          object: 'globalThis',
          property,
          message: `${property} schedules on real time: ${why}.`,
        })),
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: `new Date() reads the wall clock: ${why}.`,
        },
        {
          selector: "CallExpression[callee.name='Date']",
          message: `Date() reads the wall clock: ${why}.`,
        },
      ],
    },
  },

  // Which Node built-ins each layer may import (design.md section 2). src/transport, src/node, src/api,
  // sim and bench may use any, with the node: prefix.
  {
    ...layerSources('core', 'knowledge', 'gossip'),
    rules: {
      'no-restricted-imports': restrictImports({
        regex: '^node:',
        message: 'core, knowledge and gossip are pure: no Node built-ins (design.md section 2).',
      }),
    },
  },
  {
    ...layerSources('log'),
    rules: {
      'no-restricted-imports': restrictImports({
        regex: '^node:(?!crypto$)',
        message: 'src/log is pure: of the Node built-ins only node:crypto (hash, sign, verify).',
      }),
    },
  },
  {
    ...layerSources('store'),
    rules: {
      'no-restricted-imports': restrictImports({
        regex: '^node:(?!sqlite$)',
        message: 'src/store talks to SQLite only: of the Node built-ins only node:sqlite.',
      }),
    },
  },

  // Plain JavaScript: the bin shim and the tool configs. No type information (they are outside tsconfig).
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...nodeGlobals, module: 'writable', require: 'readonly' },
    },
  },
)
