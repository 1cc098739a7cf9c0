#!/usr/bin/env node
/**
 * The soak: the two model-based tests of DESIGN.md §2 with many more histories than a
 * unit-test run takes. The driver model sends each history through the real stage driver
 * (the workflow's calls in any order, late and from old runs, duplicated and late events,
 * crashes between any two writes, operators' rollbacks, gates and approvals between any two
 * steps); the rules model replays each through the rules and the in-memory store with
 * crashes between writes, duplicated and late requests, and decisions raced by operators'
 * writes to the items they read. After every step the safety properties are checked;
 * fast-check stops at the first violation and prints the seed and the shrunk history.
 *
 *   npm run soak                       # 20,000 histories of each model
 *   npm run soak -- --runs 50000 --seed 42
 *
 * It prints one JSON line: histories run per model, violations (0, or the run failed),
 * the seed (rerun the same histories with --seed) and the elapsed time.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20000' },
    seed: { type: 'string' },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a whole number ≥ 1, got ${values.runs}`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`--seed must be a whole number, got ${values.seed}`);
  process.exit(2);
}
const files = [
  'test/unit/service/driver-model.test.ts',
  'test/unit/promotion/safety-properties.test.ts',
];
console.error(`soak: ${runs} histories of each model, seed ${seed}: ${files.join(', ')}`);
const started = Date.now();
const run = spawnSync('npx', ['vitest', 'run', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    SOAK: '1',
    DRIVER_RUNS: String(runs),
    SAFETY_RUNS: String(runs),
    SAFETY_SEED: String(seed),
  },
});
const seconds = Math.round((Date.now() - started) / 1000);
const passed = run.status === 0;
console.log(
  JSON.stringify({
    historiesPerModel: runs,
    models: files.length,
    violations: passed ? 0 : 'at least 1 (see the failure above)',
    seed,
    seconds,
  }),
);
process.exit(passed ? 0 : 1);
