// @ts-check
// The layer rules of design.md section 2, checked across files (eslint.config.js checks the per-file ones:
// Node built-ins per layer, determinism). An arrow is "may import":
//
//   core <- log <- knowledge <- store;   core, log <- gossip;   core, log <- transport;
//   node -> everything in src below it;   api -> node and below;   sim -> node, transport and below;
//   bench -> anything in src.
//
// Each layer exports through its index.ts; files in one layer folder may import each other directly.

/** Tests beside the code, and their helpers: `x.test.ts`, `x.test-util.ts`. */
const testFile = '\\.test(\\.ts|-[a-z0-9-]+\\.ts)$'

/** Everything in src outside these folders (and outside api, which has its own rule) is forbidden. */
const onlyFrom = (/** @type {string[]} */ ...layers) => ({
  path: '^src/',
  pathNot: [`^src/(${layers.join('|')})/`, '^src/api/'],
})

const layerRule = (
  /** @type {string} */ layer,
  /** @type {string[]} */ allowed,
  /** @type {string} */ comment,
) => ({
  name: `${layer}-imports-only-${allowed.length ? allowed.join('-') : 'itself'}`,
  comment,
  severity: /** @type {const} */ ('error'),
  from: { path: `^src/${layer}/` },
  to: onlyFrom(layer, ...allowed),
})

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    layerRule('core', [], 'src/core is the bottom layer: it imports nothing else in src.'),
    layerRule('log', ['core'], 'src/log sits on src/core only.'),
    layerRule('knowledge', ['core', 'log'], 'src/knowledge sits on src/core and src/log only.'),
    layerRule('store', ['core', 'log', 'knowledge'], 'src/store sits on core, log and knowledge only.'),
    layerRule('gossip', ['core', 'log'], 'src/gossip knows ops, not the knowledge schema or the store.'),
    layerRule('transport', ['core', 'log'], 'src/transport moves bytes: it sits on core and log only.'),
    layerRule(
      'node',
      ['core', 'log', 'knowledge', 'store', 'gossip', 'transport'],
      'src/node wires the layers below it.',
    ),
    {
      name: 'only-api-imports-api',
      comment: 'src/api is the top of src: nothing below it imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/api/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'sim-not-to-api',
      comment: 'The simulator drives nodes and transports, not the HTTP/MCP/CLI edge.',
      severity: 'error',
      from: { path: '^sim/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'src-not-to-sim-or-bench',
      comment: 'Production code never imports the simulator or the benchmarks.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(sim|bench)/' },
    },
    {
      name: 'through-index',
      comment:
        'Another layer is imported through its index.ts (e.g. ../core/index.ts, not ../core/hlc.ts); ' +
        'files in the same layer folder import each other directly.',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: {
        path: '^src/[^/]+/',
        // A layer's test helpers (x.test-util.ts) are its second entry point, for tests only. src/node has
        // a second public entry, network.ts (daemon, folder and git sync), so commands that do not move ops
        // between nodes do not load them (src/node/index.ts says why).
        pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', '^src/node/network\\.ts$', '\\.test-util\\.ts$'],
      },
    },
    {
      name: 'tests-stay-in-tests',
      comment:
        'Code in src never imports a test or a test helper (they pull in fast-check, node:test); ' +
        'sim and bench, being harnesses, may.',
      severity: 'error',
      from: { path: '^src/', pathNot: testFile },
      to: { path: testFile },
    },
    {
      name: 'sim-through-index',
      comment:
        'The simulator imports src layers through their index.ts. (bench may reach inside, to measure.)',
      severity: 'error',
      from: { path: '^sim/' },
      to: { path: '^src/', pathNot: ['^src/[^/]+/index\\.ts$', '\\.test-util\\.ts$'] },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles, type-only imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pure-layers-no-node-builtins',
      comment: 'core, knowledge and gossip are pure: no Node built-ins (tests beside the code may use them).',
      severity: 'error',
      from: { path: '^src/(core|knowledge|gossip)/', pathNot: testFile },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'log-only-node-crypto',
      comment: 'src/log is pure: of the Node built-ins only node:crypto (hash, sign, verify).',
      severity: 'error',
      from: { path: '^src/log/', pathNot: testFile },
      to: { dependencyTypes: ['core'], pathNot: '^(node:)?crypto$' },
    },
    {
      name: 'store-only-node-sqlite',
      comment: 'src/store talks to SQLite only: of the Node built-ins only node:sqlite.',
      severity: 'error',
      from: { path: '^src/store/', pathNot: testFile },
      to: { dependencyTypes: ['core'], pathNot: '^(node:)?sqlite$' },
    },
    {
      name: 'src-not-to-dev-dep',
      comment: 'Production code uses no devDependencies (fast-check, the bench anchors); tests may.',
      severity: 'error',
      from: { path: '^src/', pathNot: testFile },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unlisted-package',
      comment: 'Every package imported is declared in package.json.',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves (write the .ts extension: Node runs the sources as they are).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `depcruise .` walks the tree from the root, so a missing sim/ or bench/ is no error.
    exclude: { path: '^(bench/results|tmp|coverage)/' },
    // Count type-only imports too: a layer violation or a cycle through types is still one.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
}
