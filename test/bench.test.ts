import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Keeps `npm run bench` from rotting: its shortest end-to-end run, against the server the
 * suite runs on, must seed, check every contender's answers (it exits non-zero on a wrong
 * answer or a failed request), measure and write its report. No timing is asserted.
 */
const serverUrl = process.env.TEST_DATABASE_URL;
const ROOT = path.resolve(import.meta.dirname, '..');

describe.skipIf(!serverUrl)('the benchmark harness (quick smoke run)', () => {
  it('runs every contender and scenario, answers correctly, and writes the report', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'scopegraph-bench-'));
    const out = path.join(dir, 'report.md');
    try {
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/run.ts',
          '--quick',
          '--connections',
          '8',
          '--duration',
          '0.5',
          '--scale',
          '2,4',
          '--scale-duration',
          '0.3',
          '--out',
          out,
        ],
        {
          cwd: ROOT,
          env: { ...process.env, DATABASE_URL: serverUrl },
          encoding: 'utf8',
          timeout: 240_000,
        },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const report = readFileSync(out, 'utf8');
      for (const contender of ['scopegraph', 'unscoped', 'postgraphile', 'raw']) {
        for (const scenario of [1, 2, 3, 4]) {
          expect(report).toMatch(new RegExp(`\\| ${scenario} \\| ${contender} \\| 8 \\|`));
        }
      }
      expect(report).toContain('Scale curve');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
