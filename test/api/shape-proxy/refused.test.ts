import { describe, expect, it } from 'vitest';
import { SHAPE_TABLES } from '../../../src/http/shape-proxy.ts';
import { checkWhere } from '../../../src/http/shape-where.ts';
import {
  acme,
  acmeIds,
  ids,
  orgA,
  orgB,
  parseWhereNode,
  shape,
  stripLocations,
  useShapeProxy,
} from './setup.ts';

/** Wheres and parameters that must never reach Electric, and odd forms that stay one expression. */
useShapeProxy();

describe('the shape proxy', () => {
  describe('a hostile where is refused with 400 BAD_USER_INPUT, and nothing is forwarded', () => {
    const issue = "$q$'$q$ = 'x' ) OR true OR ( 'x' = $q$'$q$";
    const corpus: [table: string, where: string][] = [
      // The issue's exact attacks.
      ['posts', issue],
      ['comments', issue],
      ['users', issue],
      ['users', "password_hash LIKE 'scrypt$131072$8$1$7y%'"],
      ['users', "email LIKE 'owner%'"],
      // Every quoting form, aimed at closing the parenthesis.
      ['posts', "$$'$$ = 'x' ) OR true OR ( 'x' = $$'$$"],
      ['posts', "$a$ $b$ ) $a$ = 'x' ) OR true OR ( 'x' = $a$ $b$ ( $a$"],
      ['posts', "title = E'\\' ) OR true OR ( title = E'\\''"],
      ['posts', "title = 'a\\' ) OR true OR ( title = '"],
      ['posts', "title = e'\\x27' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = U&'\\0027' ) OR true OR ( title = U&'\\0027'"],
      ['posts', "title = U&'!0027' UESCAPE '!' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = 'x'' ) OR true OR ( ''x') OR (true"],
      ['posts', '"title"" = \'x\' ) OR true OR (""" = \'y\''],
      ['posts', "title = N'x' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = B'01' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = X'1F'"],
      // Comments.
      ['posts', "title = 'x') OR true --"],
      ['posts', "title = 'x' --\n) OR true OR (\ntitle = 'y'"],
      ['posts', "title = 'x' /* /* */ ) OR true OR ( /* */ */ title = 'y'"],
      ['posts', "title = 'x' /* */ ) OR true OR ( /* */ title = 'y'"],
      ['posts', '1=1) OR (1=1'],
      ['posts', ')('],
      // Hidden columns, however spelled.
      ['users', 'password_hash IS NOT NULL'],
      ['users', '"password_hash" IS NOT NULL'],
      ['users', 'U&"password_hash" IS NOT NULL'],
      ['users', 'U&"p\\0061ssword_hash" IS NOT NULL'],
      ['users', 'U&"p!0061ssword_hash" UESCAPE \'!\' IS NOT NULL'],
      ['users', '"email" = \'owner@example.com\''],
      ['users', "name = 'x' OR email LIKE 'a%'"],
      ['posts', "title = 'x' OR email = 'y'"],
      ['posts', '"Title" = \'x\''],
      // Subqueries.
      ['posts', "EXISTS (SELECT 1 FROM users WHERE password_hash LIKE 's%')"],
      ['posts', 'title IN (SELECT email FROM users)'],
      ['posts', 'id = (SELECT id FROM posts LIMIT 1)'],
      ['posts', 'title = ANY (SELECT title FROM posts)'],
      ['posts', '(SELECT count(*) FROM posts) > 0'],
      ['posts', 'ARRAY(SELECT 1) IS NOT NULL'],
      // Functions and session values.
      ['posts', 'pg_sleep(1) IS NULL'],
      ['posts', "current_setting('app.organization_id') = ''"],
      ['posts', "title = lower('X')"],
      ['posts', 'length(title) > 0'],
      ['posts', 'now() > created_at'],
      ['posts', 'CURRENT_TIMESTAMP > created_at'],
      ['posts', "current_user = 'postgres'"],
      ['posts', "COALESCE(content, '') = ''"],
      ['posts', "NULLIF(title, 'x') IS NULL"],
      ['posts', 'GREATEST(1, 2) = 2'],
      ['posts', 'CASE WHEN true THEN true END'],
      ['posts', "title LIKE 'x' ESCAPE '!'"],
      // Casts beyond the plain types.
      ['posts', "'posts'::regclass IS NOT NULL"],
      ['posts', 'title::regclass IS NULL'],
      ['posts', "CAST('users' AS regclass) IS NOT NULL"],
      ['posts', "'1'::int4[] IS NULL"],
      ['posts', "title::varchar(10) = 'x'"],
      ['posts', "title::public.text = 'x'"],
      ['posts', 'title::"toString" = \'x\''],
      ['posts', "created_at > timestamptz(3) '2024-01-01'"],
      // System columns.
      ['posts', "ctid = '(0,1)'"],
      ['posts', "xmin::text = '1'"],
      ['posts', 'tableoid > 0'],
      ['posts', 'cmax IS NOT NULL'],
      // Qualified names and stars.
      ['users', "public.users.email = 'x'"],
      ['posts', "posts.title = 'x'"],
      [
        'posts',
        `public.posts.organization_id = '${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}'`,
      ],
      ['posts', 'posts.* IS NOT NULL'],
      // Rows and arrays.
      [
        'posts',
        "(organization_id, id) > ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000')",
      ],
      ['posts', 'ROW(title, id) IS NOT NULL'],
      ['posts', "(title, title) = ('x', 'x')"],
      ['posts', "title = ANY('{x,y}')"],
      ['posts', "title = ALL(ARRAY['x'])"],
      ['posts', "ARRAY[title] && ARRAY['x']"],
      ['posts', "title = ('{x}'::text[])[1]"],
      // Operators outside the list.
      ['posts', "title || 'x' = 'xx'"],
      ['posts', "title ~ '^H'"],
      ['posts', "title SIMILAR TO 'H%'"],
      ['posts', "title OPERATOR(pg_catalog.=) 'x'"],
      ['posts', "title ~~ 'x'"],
      ['posts', 'title COLLATE "C" = \'x\''],
      ['posts', "- title = 'x'"],
      ['posts', 'created_at BETWEEN SYMMETRIC created_at AND created_at'],
      // The where closes its clause and goes on.
      ['posts', 'true; SELECT 1'],
      ['posts', "title = 'x'; DROP TABLE posts"],
      ['posts', 'true ORDER BY 1'],
      ['posts', 'true LIMIT 1'],
      ['posts', 'true UNION SELECT FROM posts'],
      ['posts', 'true GROUP BY 1'],
      ['posts', 'true FOR UPDATE'],
      ['posts', 'true WINDOW w AS ()'],
      ['posts', "title = 'unclosed"],
      ['posts', `${'NOT '.repeat(300)}true`],
      ['posts', `title = '${'x'.repeat(2_001)}'`],
      ['posts', "title = 'x\0' OR true"],
      // Parameters: $0, unknown numbers, huge numbers.
      ['posts', '$0 = $0'],
      ['posts', '$99999999999 = 1'],
      ['posts', '$101 = 1'],
    ];
    for (const [table, where] of corpus) {
      it(`${table}: ${JSON.stringify(where).slice(0, 110)}`, async () => {
        const answer = await shape({ table, where }, acme());
        expect(answer.status, answer.message).toBe(400);
        expect(answer.code).toBe('BAD_USER_INPUT');
        expect(answer.forwarded).toEqual([]);
      });
    }
  });

  describe('odd but valid forms are one expression, and stay inside the own organization', () => {
    const accepted = [
      "title = 'a\\' OR true --'",
      "title = 'x' -- ) OR true",
      "title = 'x' /* ) OR true OR ( */",
      "title = 'x' /* /* */ ) OR true OR ( */",
      "title = 'x'' ) OR true OR ( ''x'",
      "title = E'\\' ) OR true OR ( title = '",
      'title = $q$ ) OR true OR ( $q$',
      'true OR true',
      "title = 'x' OR 'a' = 'a'",
      `${'('.repeat(200)}true${')'.repeat(200)}`,
      'title = 99999999999999999999999999',
    ];
    for (const where of accepted) {
      it(JSON.stringify(where).slice(0, 110), async () => {
        const answer = await shape({ table: 'posts', where }, acme());
        // shape() already checked the rows and the forwarded where; the database may still
        // refuse a type mismatch (text = numeric) with Electric's own 400.
        expect([200, 400], answer.message).toContain(answer.status);
        expect(answer.forwarded).toHaveLength(1);
      });
    }

    it('the printed where is the same tree as the client’s', async () => {
      for (const where of [
        ...accepted,
        "title = U&'it!0027s here' UESCAPE '!'",
        'id IN ($1, $2)',
      ]) {
        const printed = await checkWhere(where, {
          columns: SHAPE_TABLES.posts ?? [],
          paramOffset: 0,
        });
        expect(stripLocations(parseWhereNode(printed.sql)), where).toEqual(
          stripLocations(parseWhereNode(where)),
        );
      }
    });
  });

  describe('parameters cannot reach the organization’s $1 or go astray', () => {
    const cases: [string, Record<string, string> | [string, string][]][] = [
      // The client's $1 is not the organization: without params[1] it has no value.
      ['$1 names the org parameter', { where: 'organization_id = $1' }],
      ['params[0]', { where: "title = 'x'", 'params[0]': orgB }],
      ['params[01]', { where: 'title = $1', 'params[01]': 'x' }],
      ['params[1000]', { where: "title = 'x'", 'params[1000]': 'x' }],
      ['$101 with params[101]', { where: 'title = $101', 'params[101]': 'x' }],
      ['a gap: $2 only', { where: 'title = $2', 'params[2]': 'x' }],
      [
        'a param the where does not use',
        { where: 'title = $1', 'params[1]': 'x', 'params[2]': orgB },
      ],
      ['params without a where', { 'params[1]': orgB }],
      [
        'a repeated params[1]',
        [
          ['where', 'title = $1'],
          ['params[1]', 'x'],
          ['params[1]', orgB],
        ],
      ],
      ['a NUL in a param', { where: 'title = $1', 'params[1]': 'x\0' }],
      ['bare params', { where: "title = 'x'", params: JSON.stringify({ 1: orgB }) }],
    ];
    for (const [name, query] of cases) {
      it(name, async () => {
        const entries = Array.isArray(query) ? query : Object.entries(query);
        const answer = await shape([['table', 'posts'], ...entries], acme());
        expect(answer.status, answer.message).toBe(400);
        expect(answer.code).toBe('BAD_USER_INPUT');
        expect(answer.forwarded).toEqual([]);
      });
    }

    it('positive control: $1 with its params[1] naming the other organization narrows to nothing', async () => {
      const answer = await shape(
        { table: 'posts', where: 'organization_id = $1', 'params[1]': orgB },
        acme(),
      );
      expect(answer.status).toBe(200);
      expect(answer.rows).toEqual([]);
      const own = await shape(
        { table: 'posts', where: 'organization_id = $1', 'params[1]': orgA },
        acme(),
      );
      expect(ids(own.rows)).toEqual(acmeIds(() => true));
    });
  });
});
