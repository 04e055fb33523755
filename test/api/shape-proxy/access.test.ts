import { describe, expect, it } from 'vitest';
import { SHAPE_PATH } from '../../../src/http/shape-proxy.ts';
import { createTestApi, signUpOrg } from '../../support/api.ts';
import { a, acme, b, electric, orgA, orgB, shape, t, useShapeProxy } from './setup.ts';

/** Who may ask, for which tables and columns; and the route off without ELECTRIC_URL. */
useShapeProxy();

describe('the shape proxy', () => {
  it('allows listed tables and columns only', async () => {
    for (const query of [
      { table: 'organizations' },
      { table: '_prisma_migrations' },
      { table: 'public.posts' },
      { table: 'constructor' },
      { table: '__proto__' },
      { table: 'users', columns: 'id,password_hash' },
      { table: 'users', columns: 'id,email' },
      { table: 'users', columns: 'id,"email"' },
      {},
      { table: 'posts', unknown: '1' },
    ]) {
      const answer = await shape(query as Record<string, string>, acme());
      expect(answer.status, JSON.stringify(query)).toBe(400);
      expect(answer.code).toBe('BAD_USER_INPUT');
      expect(answer.forwarded).toEqual([]);
    }
    // Positive control: the listed columns of users.
    const ok = await shape({ table: 'users', columns: 'id,name' }, acme());
    expect(ok.status).toBe(200);
    expect(ok.forwarded[0]?.searchParams.get('columns')).toBe('id,name,organization_id');
    expect(ok.rows.map((row) => row.name).sort()).toEqual([
      'Adam Admin',
      'Mia Member',
      'Olive Owner',
    ]);
    expect(Object.keys(ok.rows[0] ?? {}).sort()).toEqual(['id', 'name', 'organization_id']);
  });

  it('needs a member: no token, a bad token or a deleted user is 401, and nothing is forwarded', async () => {
    const ghost = await t.tokens.issue({
      userId: '00000000-0000-4000-8000-000000000000',
      organizationId: orgA,
    });
    for (const token of [undefined, 'not-a-token', ghost]) {
      const answer = await shape({ table: 'posts' }, token ? { token, org: orgA } : undefined);
      expect(answer.status).toBe(401);
      expect(answer.code).toBe('UNAUTHENTICATED');
      expect(answer.forwarded).toEqual([]);
    }
  });

  it("a suspended organization's members are 403, and nothing is forwarded", async () => {
    const initech = await signUpOrg(t, 'initech');
    const [row] = await electric.query("SELECT id::text FROM organizations WHERE slug = 'initech'");
    const caller = { token: initech.member.token, org: row?.id ?? '' };
    expect((await shape({ table: 'posts' }, caller)).status).toBe(200);
    await electric.query('UPDATE organizations SET suspended_at = now() WHERE id = $1', [
      caller.org,
    ]);
    const answer = await shape({ table: 'posts' }, caller);
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('ORGANIZATION_SUSPENDED');
    expect(answer.forwarded).toEqual([]);
  });

  it('every request that reached Electric carried the tenant filter', async () => {
    const live = await shape(
      { table: 'posts', live: 'true', handle: 'h', offset: '0_0' },
      { token: a.owner.token, org: orgA },
    );
    const comments = await shape({ table: 'comments' }, { token: b.owner.token, org: orgB });
    expect([...live.forwarded, ...comments.forwarded]).toHaveLength(2);
    expect(comments.rows.map((row) => row.id)).toHaveLength(1);
  });
});

describe('without ELECTRIC_URL', () => {
  it('the route is off: 404', async () => {
    const off = await createTestApi();
    try {
      const response = await off.fetch({ path: `${SHAPE_PATH}?table=posts`, method: 'GET' });
      expect(response.status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
