import { defineConfig } from 'vitest/config';

// One runner, two projects: unit tests (pure logic, no services) and
// integration tests (real Kafka and Redis, brought up by the global setup
// through the same code as `npx braid stack up`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
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
