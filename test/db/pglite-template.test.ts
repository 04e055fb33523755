import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { prepareTemplate, templateFile } from '../../src/db/pglite-template.ts';

const root = mkdtempSync(path.join(tmpdir(), 'scopegraph-template-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const MIGRATIONS = path.resolve('prisma/migrations');

describe('the prepared PGlite template', () => {
  it('is named after the migrations: a new or edited migration matches no template', async () => {
    const copy = path.join(root, 'migrations');
    cpSync(MIGRATIONS, copy, { recursive: true });
    const current = await templateFile(MIGRATIONS);
    expect(await templateFile(copy)).toBe(current);

    mkdirSync(path.join(copy, '29991231000000_next'));
    writeFileSync(path.join(copy, '29991231000000_next', 'migration.sql'), 'SELECT 1;\n');
    const added = await templateFile(copy);
    expect(added).not.toBe(current);

    writeFileSync(path.join(copy, '29991231000000_next', 'migration.sql'), 'SELECT 2;\n');
    expect(await templateFile(copy)).not.toBe(added);
  });

  it('a new data directory is loaded from it, migrated; an existing one is reopened', async () => {
    expect(existsSync(await prepareTemplate())).toBe(true);
    const dataDir = path.join(root, 'fresh', 'pglite');
    const first = await openDatabase({ dataDir });
    try {
      expect(first.origin).toBe('template');
      const connection = await first.adapter.connect();
      const migrated = await connection.queryRaw({
        sql: 'SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL',
        args: [],
        argTypes: [],
      });
      expect(Number(migrated.rows[0]?.[0])).toBeGreaterThan(0);
      await connection.executeScript(
        "INSERT INTO organizations (id, name, slug, updated_at) VALUES (gen_random_uuid(), 'Kept', 'kept', now())",
      );
    } finally {
      await first.close();
    }
    const again = await openDatabase({ dataDir });
    try {
      expect(again.origin).toBe('existing');
      const connection = await again.adapter.connect();
      const kept = await connection.queryRaw({
        sql: "SELECT slug FROM organizations WHERE slug = 'kept'",
        args: [],
        argTypes: [],
      });
      expect(kept.rows).toEqual([['kept']]);
    } finally {
      await again.close();
    }
  });
});
