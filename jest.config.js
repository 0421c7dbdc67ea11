/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  // One database for the whole run, started once; each test file gets its own database in it.
  globalSetup: "<rootDir>/tests/setup/global-setup.ts",
  globalTeardown: "<rootDir>/tests/setup/global-teardown.ts",
  setupFiles: ["<rootDir>/tests/setup/reflect-metadata.ts"],
  // A sanity bound for a loaded 2-core machine; scenario tests set longer ones of their own.
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ["default", "<rootDir>/tests/setup/summary-reporter.js"],
};
