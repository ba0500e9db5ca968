import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// One runner, two projects: unit tests (pure logic, no services) and
// integration tests (real Kafka and Redis, brought up by the global setup
// through the same code as `npx braid stack up`).
export default defineConfig({
  resolve: {
    // One graphql module: Node loads graphql-yoga's `import 'graphql'` as the CommonJS build (the package has no
    // "exports"), while Vite would give our files the .mjs one, and graphql refuses a schema from "another realm".
    alias: { graphql: createRequire(import.meta.url).resolve('graphql') },
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          // Two cores: run integration files one after another so Kafka, Redis
          // and the tests do not starve each other.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
