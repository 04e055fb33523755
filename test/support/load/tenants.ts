import { randomUUID } from 'node:crypto';
import type { TokenService } from '../../../src/auth/tokens.ts';
import type { Organization } from '../../../src/generated/prisma/client.ts';
import { withClient } from '../server.ts';

/**
 * The tenants of the load scenario (./run.ts): seeded with plain pg, every text carrying its
 * tenant's marker.
 */

export type LoadTenant = Readonly<{
  index: number;
  /** In every text this tenant owns: another tenant's marker in a response is a leak. */
  marker: string;
  organization: Organization;
  users: Readonly<Record<'owner' | 'admin' | 'member', Readonly<{ id: string; email: string }>>>;
  tokens: Readonly<Record<'owner' | 'admin' | 'member', string>>;
  postIds: readonly string[];
  commentIds: readonly string[];
}>;

export const POSTS_PER_TENANT = 5;
export const COMMENTS_PER_POST = 2;
export const MARKER = /@@T(\d+)@@/g;
/** Tokens written by the scenario: OK-… must exist afterwards, NOPE-… must not. */
export const WRITE_TOKEN = /\b(OK|NOPE)-\d+[a-z]\b/g;

export const markerOf = (index: number) => `@@T${String(index).padStart(3, '0')}@@`;

/** Look-alike tenants (same emails, same shapes): only ids and markers tell them apart. */
export async function seedTenants(
  databaseUrl: string,
  count: number,
  tokens: TokenService,
): Promise<LoadTenant[]> {
  const rows = { orgs: [] as unknown[][], users: [] as unknown[][], posts: [] as unknown[][] };
  const comments: unknown[][] = [];
  const base = Date.now() - 3_600_000;
  const seeded = Array.from({ length: count }, (_, index) => {
    const marker = markerOf(index);
    const at = new Date(base + index * 1_000);
    const organization: Organization = {
      id: randomUUID(),
      name: `Org ${marker}`,
      slug: `iso-t${String(index).padStart(3, '0')}`,
      createdAt: at,
      updatedAt: at,
      suspendedAt: null,
      deletionRequestedAt: null,
    };
    rows.orgs.push([organization.id, organization.name, organization.slug, at]);
    const user = (role: 'OWNER' | 'ADMIN' | 'MEMBER', name: string) => {
      const id = randomUUID();
      const email = `${role.toLowerCase()}@example.com`;
      rows.users.push([organization.id, id, email, `${name} ${marker}`, role, at]);
      return { id, email };
    };
    const users = {
      owner: user('OWNER', 'Olive Owner'),
      admin: user('ADMIN', 'Adam Admin'),
      member: user('MEMBER', 'Mia Member'),
    };
    const authors = [users.owner.id, users.admin.id, users.member.id];
    const postIds: string[] = [];
    const commentIds: string[] = [];
    for (let p = 0; p < POSTS_PER_TENANT; p++) {
      const postId = randomUUID();
      postIds.push(postId);
      const postAt = new Date(at.getTime() + p * 10);
      rows.posts.push([
        organization.id,
        postId,
        authors[p % 3],
        `${marker} post ${p}`,
        `${marker} content ${p}`,
        postAt,
      ]);
      for (let c = 0; c < COMMENTS_PER_POST; c++) {
        const commentId = randomUUID();
        commentIds.push(commentId);
        comments.push([
          organization.id,
          commentId,
          postId,
          authors[(p + c + 1) % 3],
          `${marker} comment ${p}.${c}`,
          new Date(postAt.getTime() + c + 1),
        ]);
      }
    }
    return { index, marker, organization, users, postIds, commentIds };
  });

  await withClient(databaseUrl, async (client) => {
    const columns = (table: unknown[][]) =>
      table[0]?.map((_, column) => table.map((row) => row[column])) ?? [];
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO organizations (id, name, slug, created_at, updated_at)
       SELECT id, name, slug, at, at
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS t(id, name, slug, at)`,
      columns(rows.orgs),
    );
    await client.query(
      `INSERT INTO users (organization_id, id, email, name, role, created_at, updated_at)
       SELECT org, id, email, name, role::"Role", at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
         AS t(org, id, email, name, role, at)`,
      columns(rows.users),
    );
    await client.query(
      `INSERT INTO posts (organization_id, id, author_id, title, content, created_at, updated_at)
       SELECT org, id, author, title, content, at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])
         AS t(org, id, author, title, content, at)`,
      columns(rows.posts),
    );
    await client.query(
      `INSERT INTO comments (organization_id, id, post_id, author_id, body, created_at, updated_at)
       SELECT org, id, post, author, body, at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[])
         AS t(org, id, post, author, body, at)`,
      columns(comments),
    );
    await client.query('COMMIT');
  });

  return Promise.all(
    seeded.map(async (tenant) => {
      const token = (role: 'owner' | 'admin' | 'member') =>
        tokens.issue({ userId: tenant.users[role].id, organizationId: tenant.organization.id });
      const [owner, admin, member] = await Promise.all([
        token('owner'),
        token('admin'),
        token('member'),
      ]);
      return Object.freeze({ ...tenant, tokens: { owner, admin, member } });
    }),
  );
}
