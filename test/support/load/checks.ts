import { UUIDS_IN_TEXT } from '../../../src/tenancy/ids.ts';
import { withClient } from '../server.ts';
import { type LoadTenant, MARKER, markerOf, WRITE_TOKEN } from './tenants.ts';

/**
 * After a load run (./run.ts): every response scanned for another tenant's marker or id, and
 * the database for what failed writes might have left behind.
 */

// ---------------------------------------------------------------------------------------------
// The checks

/** Every id in the database (organizations, users, posts, comments) → its organization. */
export async function ownersOf(databaseUrl: string): Promise<Map<string, string>> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ id: string; org: string }>(
      `SELECT id::text, id::text AS org FROM organizations
       UNION ALL SELECT id::text, organization_id::text FROM users
       UNION ALL SELECT id::text, organization_id::text FROM posts
       UNION ALL SELECT id::text, organization_id::text FROM comments`,
    );
    return new Map(rows.map((row) => [row.id, row.org]));
  });
}

/**
 * Another tenant's marker, or an id (raw, or inside a global id or a cursor) that belongs to
 * another organization or to none at all, anywhere in a payload (data and errors alike).
 */
export function leaksIn(
  payload: unknown,
  tenant: LoadTenant,
  owners: ReadonlyMap<string, string>,
  tenants: readonly LoadTenant[],
  tally: { checked: number } = { checked: 0 },
): string[] {
  const found: string[] = [];
  const own = tenant.organization.id;
  for (const text of stringsOf(payload)) {
    for (const [, index] of text.matchAll(MARKER)) {
      tally.checked++;
      if (Number(index) !== tenant.index) {
        found.push(`${tenant.marker} saw ${markerOf(Number(index))} in ${JSON.stringify(text)}`);
      }
    }
    const decoded = /^[A-Za-z0-9_+/-]{8,}={0,2}$/.test(text)
      ? Buffer.from(text, 'base64').toString('utf8')
      : '';
    for (const candidate of [text, decoded]) {
      for (const [id] of candidate.matchAll(UUIDS_IN_TEXT)) {
        tally.checked++;
        const owner = owners.get(id.toLowerCase());
        if (owner === own) continue;
        const whose = tenants.find((t) => t.organization.id === owner)?.marker ?? 'no tenant';
        found.push(`${tenant.marker} saw id ${id} of ${whose} in ${JSON.stringify(text)}`);
      }
    }
  }
  return found;
}

/** The seeded rows' owners, without asking the database (for checking the checker). */
export function seededOwners(tenants: readonly LoadTenant[]): Map<string, string> {
  return new Map(
    tenants.flatMap((t) =>
      [
        t.organization.id,
        ...Object.values(t.users).map((u) => u.id),
        ...t.postIds,
        ...t.commentIds,
      ].map((id) => [id, t.organization.id] as const),
    ),
  );
}

export function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (value instanceof Date) return out;
  else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) stringsOf(item, out);
  }
  return out;
}

/**
 * What the database holds after the run: every text carries its own organization's marker
 * only, no NOPE- token of a failed write exists, every OK- token of a successful one exists
 * once in its tenant, and the seeded rows foreign writes aimed at are still there.
 */
export async function residueOf(
  databaseUrl: string,
  tenants: readonly LoadTenant[],
  expected: ReadonlyMap<string, number>,
): Promise<string[]> {
  const problems: string[] = [];
  const byOrg = new Map(tenants.map((t) => [t.organization.id, t]));
  const { rows, seededComments } = await withClient(databaseUrl, async (client) => {
    const texts = await client.query<{ kind: string; org: string; text: string }>(
      `SELECT 'organization' AS kind, id::text AS org, name AS text FROM organizations
       UNION ALL SELECT 'user', organization_id::text, name FROM users
       UNION ALL SELECT 'post', organization_id::text, title || ' | ' || coalesce(content, '') FROM posts
       UNION ALL SELECT 'comment', organization_id::text, body FROM comments`,
    );
    const comments = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM comments WHERE id = ANY($1::uuid[])',
      [tenants.flatMap((t) => t.commentIds)],
    );
    return { rows: texts.rows, seededComments: comments.rows[0]?.n ?? 0 };
  });
  const seen = new Map<string, string[]>();
  for (const row of rows) {
    const tenant = byOrg.get(row.org);
    if (!tenant) {
      problems.push(`a ${row.kind} of an unknown organization ${row.org}: ${row.text}`);
      continue;
    }
    for (const [, index] of row.text.matchAll(MARKER)) {
      if (Number(index) !== tenant.index) {
        problems.push(
          `${tenant.marker}'s ${row.kind} carries ${markerOf(Number(index))}: ${row.text}`,
        );
      }
    }
    for (const [token, verdict] of row.text.matchAll(WRITE_TOKEN)) {
      if (verdict === 'NOPE') {
        problems.push(
          `a failed write left ${token} behind: ${tenant.marker}'s ${row.kind} ${row.text}`,
        );
      }
      const list = seen.get(token) ?? [];
      list.push(tenant.marker);
      seen.set(token, list);
    }
  }
  for (const [token, index] of expected) {
    const where = seen.get(token) ?? [];
    if (where.length !== 1 || where[0] !== markerOf(index)) {
      problems.push(`${token} (written by ${markerOf(index)}) found in ${JSON.stringify(where)}`);
    }
  }
  const total = tenants.reduce((sum, t) => sum + t.commentIds.length, 0);
  if (seededComments !== total) {
    problems.push(`${total - seededComments} seeded comments vanished (foreign deletes?)`);
  }
  return problems;
}
