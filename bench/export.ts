// Memory of a data export and its download, for a small and a big tenant side by side in one
// process: `npm run bench:export [-- --big-posts N --small-posts N]`. Needs a PostgreSQL server
// (BENCH_DATABASE_URL, default the local one); seeds a database of its own and drops it.
import { parseArgs } from 'node:util';
import { createYoga } from 'graphql-yoga';
import { createTokenService } from '../src/auth/tokens.ts';
import { openDatabase } from '../src/db/database.ts';
import { createSystemClient } from '../src/db/system.ts';
import { createExportLinks, useExportDownload } from '../src/http/export-download.ts';
import { exportOrganization } from '../src/jobs/export.ts';
import type { Job } from '../src/jobs/queue.ts';
import { schema } from '../src/schema/index.ts';
import { forOrganization } from '../src/tenancy/scope.ts';
import { createScopedClients } from '../src/tenancy/scoped-client.ts';
import { createBenchDatabase, dropBenchDatabase, uniqueDatabaseName, withClient } from './seed.ts';

const { values } = parseArgs({
  options: {
    'big-posts': { type: 'string', default: '100000' },
    'small-posts': { type: 'string', default: '1000' },
    'comments-per-post': { type: 'string', default: '1' },
  },
});
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const gc = (globalThis as { gc?: () => void }).gc;

type Sample = { rssMiB: number; heapMiB: number; startHeapMiB: number; ms: number };

/** Peak growth of RSS and heap over the phase's start, sampled every 5 ms while it runs. */
async function measure(work: () => Promise<unknown>): Promise<Sample> {
  gc?.();
  const start = process.memoryUsage();
  let rss = start.rss;
  let heap = start.heapUsed;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    heap = Math.max(heap, now.heapUsed);
  }, 5);
  const began = performance.now();
  await work();
  const ms = performance.now() - began;
  clearInterval(timer);
  const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  return {
    rssMiB: mib(rss - start.rss),
    heapMiB: mib(heap - start.heapUsed),
    startHeapMiB: mib(start.heapUsed),
    ms: Math.round(ms),
  };
}

const name = uniqueDatabaseName();
const url = await createBenchDatabase(serverUrl, name);
try {
  const perPost = Number(values['comments-per-post']);
  const tenants: { slug: string; posts: number }[] = [
    { slug: 'small', posts: Number(values['small-posts']) },
    { slug: 'big', posts: Number(values['big-posts']) },
  ];
  await withClient(url, async (c) => {
    for (const { slug, posts } of tenants) {
      await c.query(
        `WITH o AS (INSERT INTO organizations (id, name, slug, updated_at)
           VALUES (gen_random_uuid(), $1, $1, now()) RETURNING id),
         u AS (INSERT INTO users (organization_id, id, email, name, password_hash, updated_at)
           SELECT o.id, gen_random_uuid(), 'owner@example.com', 'Owner', 'hash', now() FROM o
           RETURNING organization_id, id),
         p AS (INSERT INTO posts (organization_id, id, author_id, title, content, updated_at)
           SELECT u.organization_id, gen_random_uuid(), u.id, 'Post ' || i,
                  repeat('lorem ipsum ', 20), now()
           FROM u, generate_series(1, $2::int) AS i RETURNING organization_id, id, author_id)
         INSERT INTO comments (organization_id, id, post_id, author_id, body, updated_at)
           SELECT p.organization_id, gen_random_uuid(), p.id, p.author_id, 'A comment', now()
           FROM p, generate_series(1, $3::int)`,
        [slug, posts, perPost],
      );
    }
  });
  const database = await openDatabase({ url, poolSize: 4 });
  const system = createSystemClient(database);
  const scoped = createScopedClients(database.adapter);
  const tokens = createTokenService({ secret: 'bench-secret-that-is-long-enough-for-hs256-000' });
  const yoga = createYoga({ schema, plugins: [useExportDownload(tokens, scoped)] });
  const rows: string[] = [];
  // The first tenant runs twice, the first time unreported: it warms up Prisma and the JIT, which
  // would otherwise count as the small export's memory.
  const runs = [tenants[0] as (typeof tenants)[number], ...tenants];
  for (const [run, { slug, posts }] of runs.entries()) {
    const organization = await system.organization.findUniqueOrThrow({ where: { slug } });
    const scope = forOrganization(organization);
    const db = scoped.scopedDb(scope);
    const { id: exportId } = await system.dataExport.create({
      data: { organizationId: organization.id },
    });
    const data = { organizationId: organization.id, exportId };
    const job = {
      id: 'bench',
      name: 'export-organization',
      data,
      retryCount: 0,
      lastAttempt: true,
    };
    const exported = await measure(() =>
      db.$transaction(
        (tx) => exportOrganization({ scope, db: tx, job: job as Job<'export-organization'> }),
        { timeout: 600_000 },
      ),
    );
    const link = await createExportLinks(tokens).create(scope, db, exportId);
    let bytes = 0;
    const downloaded = await measure(async () => {
      const response = await yoga.fetch(`http://bench${link}`);
      if (response.status !== 200 || !response.body) throw new Error(`download ${response.status}`);
      const reader = response.body.getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) {
        bytes += part.value.byteLength;
      }
    });
    const chunks = await system.dataExportChunk.count({ where: { exportId } });
    const line = (phase: string, s: Sample) =>
      `| ${slug} | ${posts} | ${posts * perPost} | ${phase} | ${s.ms} | ${s.rssMiB} | ${s.startHeapMiB} | ${s.heapMiB} |`;
    if (run === 0) continue;
    rows.push(
      line('export job', exported),
      line(`download (${(bytes / 2 ** 20).toFixed(1)} MiB, ${chunks} chunks)`, downloaded),
    );
  }
  console.log(
    `gc between phases: ${gc ? 'yes' : 'no (run with --expose-gc)'}; Node ${process.version}; ` +
      `NODE_OPTIONS=${process.env.NODE_OPTIONS ?? ''}`,
  );
  console.log(
    '| tenant | posts | comments | phase | ms | peak RSS growth MiB | heap at start MiB | peak heap growth MiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  await scoped.disconnect();
  await system.$disconnect();
  await database.close();
} finally {
  await dropBenchDatabase(serverUrl, name);
}
