/**
 * The layer rule, checked by `npm run check:layers` (part of `npm test`): production code in one layer reaches another
 * layer only through that layer's `index.ts`, and `shared/` only through each shared module's `index.ts`. Tests and
 * benchmarks may reach inside.
 */
const LAYERS = '(speed|batch|serving|workflows|cli|infra)';
module.exports = {
  forbidden: [
    {
      name: 'layer-through-index',
      comment: "A layer imports another layer through that layer's index.ts only.",
      severity: 'error',
      from: { path: `^${LAYERS}/` },
      to: { path: `^${LAYERS}/`, pathNot: ['^$1/', `^${LAYERS}/index\\.ts$`, '^infra/[^/]+/index\\.ts$'] },
    },
    {
      name: 'shared-through-index',
      comment: "Outside a shared module, it is imported through its index.ts only.",
      severity: 'error',
      from: { path: '^(speed|batch|serving|workflows|cli|infra|shared/[^/]+)/' },
      to: { path: '^shared/([^/]+)/', pathNot: ['^shared/[^/]+/index\\.ts$', '^$1/'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: `^(${LAYERS.slice(1, -1)}|shared)/` },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|data|\\.braid|test|bench)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
