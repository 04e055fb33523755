import { describe, expect, it } from 'vitest';
import { SHAPE_PATH } from '../../../src/http/shape-proxy.ts';
import { ELECTRIC_HEADERS, type ShapeLogEntry } from '../../support/electric.ts';
import {
  acme,
  acmeIds,
  acmePosts,
  type Caller,
  electric,
  globex,
  ids,
  orgA,
  orgB,
  POSTS,
  type Row,
  shape,
  UUID_1,
  UUID_2,
  useShapeProxy,
} from './setup.ts';

/** What the proxy forwards, and what comes back: the tenant filter ANDed in front of the client's where. */
useShapeProxy();

describe('the shape proxy', () => {
  it("forwards with the token's organization as a bound parameter, and streams Electric's answer back", async () => {
    const answer = await shape({ table: 'posts', offset: '-1' }, acme());
    expect(answer.status).toBe(200);
    expect(answer.forwarded).toHaveLength(1);
    const forwarded = answer.forwarded[0]?.searchParams;
    expect(forwarded?.get('where')).toBe('"organization_id" = $1');
    expect(forwarded?.get('params[1]')).toBe(orgA);
    expect(forwarded?.get('table')).toBe('posts');
    expect(forwarded?.get('offset')).toBe('-1');
    expect(forwarded?.get('columns')).toBe(
      'organization_id,id,author_id,title,content,created_at,updated_at',
    );
    for (const [name, value] of Object.entries(ELECTRIC_HEADERS)) {
      if (name !== 'cache-control') expect(answer.headers.get(name), name).toBe(value);
    }
    // One organization's rows: never for a shared cache.
    expect(answer.headers.get('cache-control')).toBe(
      'private, max-age=60, stale-while-revalidate=300',
    );
    expect(answer.headers.get('vary')).toContain('authorization');
    expect(answer.log.at(-1)?.headers).toEqual({ control: 'up-to-date' });
    // Every post of acme (its sign-up post and the seeded ones), read by the stand-in.
    expect(ids(answer.rows)).toEqual(acmeIds(() => true));
    expect(answer.rows.length).toBe(POSTS.length + 1);
  });

  it('the stand-in reads as the owner: sent directly, `true` returns every organization', async () => {
    // The control that makes the rest mean something: row-level security does not protect here.
    const response = await fetch(
      `${electric.url}${SHAPE_PATH}?table=posts&columns=id,organization_id&where=true`,
    );
    const log = (await response.json()) as ShapeLogEntry[];
    const orgs = new Set(
      log.flatMap((entry) => (entry.value ? [entry.value.organization_id] : [])),
    );
    expect(orgs).toEqual(new Set([orgA, orgB]));
  });

  it("ANDs the client's where, printed from its parse tree, behind the filter", async () => {
    const forwarded = async (query: Record<string, string>, caller: Caller) => {
      const answer = await shape(query, caller);
      expect(answer.status, JSON.stringify(query)).toBe(200);
      return Object.fromEntries(answer.forwarded[0]?.searchParams ?? []);
    };
    expect(await forwarded({ table: 'posts', where: "title = 'x'" }, acme())).toMatchObject({
      where: `"organization_id" = $1 AND ("title" = 'x')`,
      'params[1]': orgA,
    });
    expect(
      await forwarded({ table: 'comments', where: "body LIKE '%)%'" }, globex()),
    ).toMatchObject({ where: `"organization_id" = $1 AND ("body" LIKE '%)%')`, 'params[1]': orgB });
    // The client's $1, $2 become $2, $3: none of its parameters can name the organization's.
    expect(
      await forwarded(
        { table: 'posts', where: 'id IN ($1,$2)', 'params[1]': UUID_1, 'params[2]': UUID_2 },
        acme(),
      ),
    ).toEqual(
      expect.objectContaining({
        where: `"organization_id" = $1 AND ("id" IN ($2, $3))`,
        'params[1]': orgA,
        'params[2]': UUID_1,
        'params[3]': UUID_2,
      }),
    );
    // Literals are escaped here, in one standard form, whatever form the client used.
    expect(
      await forwarded({ table: 'posts', where: "title = $q$it's$q$ OR title = E'a\\\\b'" }, acme()),
    ).toMatchObject({
      where: `"organization_id" = $1 AND (("title" = 'it''s') OR ("title" = E'a\\\\b'))`,
    });
  });

  it('asking for another organization only narrows to nothing', async () => {
    const answer = await shape({ table: 'posts', where: `organization_id = '${orgB}'` }, acme());
    expect(answer.status).toBe(200);
    expect(answer.rows).toEqual([]);
  });

  describe('ordinary filters return exactly the right rows of the own organization', () => {
    const cases: [string, Record<string, string>, (post: Row) => boolean][] = [
      ["title = 'Plain'", {}, (p) => p.title === 'Plain'],
      ['"title" = \'Plain\'', {}, (p) => p.title === 'Plain'],
      ['U&"t\\0069tle" = \'Plain\'', {}, (p) => p.title === 'Plain'],
      ["title LIKE '%rocket%'", {}, (p) => p.title === 'rocket launch'],
      ["title ILIKE 'ROCKET%'", {}, (p) => p.title === 'rocket launch'],
      ["title NOT LIKE '%e%'", {}, (p) => !p.title?.includes('e')],
      ["title = 'it''s here'", {}, (p) => p.title === "it's here"],
      ["title = E'it\\'s here'", {}, (p) => p.title === "it's here"],
      ["title = $$it's here$$", {}, (p) => p.title === "it's here"],
      ["title = $q$it's here$q$", {}, (p) => p.title === "it's here"],
      ["title = U&'it\\0027s here'", {}, (p) => p.title === "it's here"],
      ["title = U&'it!0027s here' UESCAPE '!'", {}, (p) => p.title === "it's here"],
      ["title = 'back\\slash'", {}, (p) => p.title === 'back\\slash'],
      ["title = E'back\\\\slash'", {}, (p) => p.title === 'back\\slash'],
      ["content LIKE '%\\\\%'", {}, (p) => p.content?.includes('\\') ?? false],
      ['title = $1', { 'params[1]': "it's here" }, (p) => p.title === "it's here"],
      ['title = $1', { 'params[1]': "x' OR true OR 'x" }, () => false],
      ["title IN ('Plain', 'Hello')", {}, (p) => p.title === 'Plain' || p.title === 'Hello'],
      ["title NOT IN ('Plain', 'Hello')", {}, (p) => p.title !== 'Plain' && p.title !== 'Hello'],
      [
        "title <> 'Plain' AND title != 'Hello'",
        {},
        (p) => p.title !== 'Plain' && p.title !== 'Hello',
      ],
      [
        "NOT (title = 'Plain' OR title = 'Hello')",
        {},
        (p) => p.title !== 'Plain' && p.title !== 'Hello',
      ],
      ['content IS NULL', {}, (p) => p.content === null],
      ['content IS NOT NULL', {}, (p) => p.content !== null],
      ["(content = 'x') IS NOT TRUE", {}, (p) => p.content !== 'x'],
      ["content IS DISTINCT FROM 'x'", {}, (p) => p.content !== 'x'],
      [
        "created_at BETWEEN '2024-01-01' AND '2024-01-31'",
        {},
        (p) => p.title === 'rocket launch' || p.title === "it's here",
      ],
      [
        "created_at NOT BETWEEN '2024-01-01'::timestamptz AND '2024-12-31'::timestamp with time zone",
        {},
        // Only the sign-up post, created today.
        (p) => p.title === 'Hello',
      ],
      [
        'created_at BETWEEN $1 AND $2',
        { 'params[1]': '2024-01-15T00:00:00Z', 'params[2]': '2024-02-10T00:00:00Z' },
        (p) => p.title === "it's here" || p.title === 'back\\slash',
      ],
      ["created_at::text LIKE '2024-03%'", {}, (p) => p.title === 'Plain'],
      ['true', {}, () => true],
      ['title IS NULL', {}, () => false],
    ];
    for (const [where, params, keep] of cases) {
      it(`${where} ${Object.values(params).join(' ')}`, async () => {
        const answer = await shape({ table: 'posts', where, ...params }, acme());
        expect(answer.status, answer.message).toBe(200);
        expect(ids(answer.rows)).toEqual(acmeIds(keep));
      });
    }

    it('id IN ($1, $2) with an id of each organization: only the own one', async () => {
      const [first, second] = acmePosts;
      const foreign = await electric.query(
        'SELECT id::text FROM posts WHERE organization_id = $1',
        [orgB],
      );
      const answer = await shape(
        {
          table: 'posts',
          where: 'id IN ($1, $2, $3)',
          'params[1]': first?.id ?? '',
          'params[2]': second?.id ?? '',
          'params[3]': foreign[0]?.id ?? '',
        },
        acme(),
      );
      expect(answer.status).toBe(200);
      expect(ids(answer.rows)).toEqual([first?.id, second?.id].sort());
    });

    it('users by role (an enum, as text) and comments by body', async () => {
      const admins = await shape({ table: 'users', where: "role::text = 'ADMIN'" }, acme());
      expect(admins.rows.map((row) => row.name)).toEqual(['Adam Admin']);
      const comments = await shape({ table: 'comments', where: "body = 'Nice'" }, globex());
      expect(comments.rows).toHaveLength(1);
    });
  });
});
