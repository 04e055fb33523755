import { describe, expect, it } from 'vitest';
import { BREAKING_MARKER, checkSchemaChange } from '../scripts/schema-compat.ts';

/** npm run schema:check's rule (scripts/schema-compat.ts): old SDL, new SDL, commit messages. */

const OLD = `
type Query { post(id: ID!): Post }
type Post { id: ID! title: String! body: String! }
enum Role { OWNER MEMBER }
`;

describe('schema:check', () => {
  it('fails on a removed field and names it as breaking', async () => {
    const result = await checkSchemaChange(OLD, OLD.replace(' body: String!', ''), [
      'Drop Post.body\n',
    ]);
    expect(result.ok).toBe(false);
    expect(result.breaking).toBe(1);
    expect(result.lines[0]).toMatch(/^BREAKING .*'body'.*'Post'/);
    expect(result.lines.at(-1)).toContain(BREAKING_MARKER);
  });

  it('passes the same change when a commit message carries the marker', async () => {
    const result = await checkSchemaChange(OLD, OLD.replace(' body: String!', ''), [
      'Unrelated commit\n',
      `Drop Post.body\n\nClients read Post.text now.\n\n${BREAKING_MARKER}\n`,
    ]);
    expect(result).toMatchObject({ ok: true, breaking: 1, intended: true });
  });

  it('does not take a marker saying something else', async () => {
    const result = await checkSchemaChange(OLD, OLD.replace(' body: String!', ''), [
      'Drop Post.body\n\nSchema-Breaking: no\n',
    ]);
    expect(result.ok).toBe(false);
  });

  it('passes a non-breaking addition', async () => {
    const result = await checkSchemaChange(
      OLD,
      OLD.replace('body: String!', 'body: String! tags: [String!]'),
      [],
    );
    expect(result).toMatchObject({ ok: true, breaking: 0, dangerous: 0 });
    expect(result.lines[0]).toMatch(/^ok .*'tags'.*'Post'/);
  });

  it('passes a dangerous change and prints it as a warning', async () => {
    const result = await checkSchemaChange(
      OLD,
      OLD.replace('OWNER MEMBER', 'OWNER MEMBER GUEST'),
      [],
    );
    expect(result).toMatchObject({ ok: true, breaking: 0, dangerous: 1 });
    expect(result.lines[0]).toMatch(/^warning .*'GUEST'/);
  });

  it('reports no changes for the same schema', async () => {
    const result = await checkSchemaChange(OLD, OLD, []);
    expect(result).toMatchObject({ ok: true, changes: [] });
  });
});
