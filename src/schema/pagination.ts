/**
 * Keyset pages for the connections ordered by (createdAt, id).
 *
 * Workaround: given a `cursor`, Prisma 7.10 sends no LIMIT; it reads every row past the cursor
 * and cuts the page in memory. A page 80% deep into a 100k-post organization read ~80k rows
 * (bench scenario 4). So the cursor Pothos parsed becomes a keyset condition on the list's
 * order, `(createdAt, id)` strictly past the cursor row, and `take` stays a LIMIT the index
 * can serve. The cursor row is read first (by primary key, through the same scoped client):
 * a cursor for a row that does not exist, or belongs to another organization, is an empty
 * page, exactly as before.
 */
export type CursorRow = Readonly<{ createdAt: Date; id: string }>;

/** Page sizes: connections' `first`/`last` (Pothos), `postsPage`'s `pageSize`, the admin lists. */
export const PAGE_SIZE = { default: 25, max: 100 } as const;

/** The lists' orders, ties broken by id so that a keyset cursor names one place in the list. */
export const NEWEST_FIRST = [{ createdAt: 'desc' }, { id: 'desc' }] as const;
export const OLDEST_FIRST = [{ createdAt: 'asc' }, { id: 'asc' }] as const;

/** The columns a keyset cursor's row is read for. */
export const CURSOR_ROW = { createdAt: true, id: true } as const;

export type ConnectionQuery = { cursor?: unknown; skip?: number; take?: number };

export type Keyset = { createdAt: Record<string, Date>; OR: Record<string, unknown>[] };

/**
 * The list's arguments: `query` without `cursor` and its `skip: 1`, with the keyset condition as
 * its `where` when there is a cursor; null when the cursor row is gone (the page is empty).
 */
export async function keysetPage<Q extends ConnectionQuery>(
  query: Q,
  order: 'asc' | 'desc',
  cursorRow: (cursor: NonNullable<Q['cursor']>) => Promise<CursorRow | null>,
): Promise<(Omit<Q, 'cursor' | 'skip'> & { where?: Keyset }) | null> {
  const { cursor, skip, ...rest } = query;
  if (cursor == null) return rest;
  const row = await cursorRow(cursor as NonNullable<Q['cursor']>);
  if (!row) return null;
  // Forward (take > 0) continues in the list's order; backward (take < 0, `last`/`before`)
  // takes the rows on the other side of the cursor, and Prisma keeps the closest ones.
  const forward = (query.take ?? 0) >= 0;
  const op = (order === 'desc') === forward ? 'lt' : 'gt';
  // (createdAt, id) past (c, i), spelled so the index on (organization_id, created_at, id) can
  // start at the cursor: createdAt on c's side or equal, and then strictly past c or past i.
  // (Prisma cannot write the row comparison; `a < c OR (a = c AND id < i)` alone makes
  // PostgreSQL scan the index from the start of the list.)
  const orEqual = op === 'lt' ? 'lte' : 'gte';
  return {
    ...rest,
    where: {
      createdAt: { [orEqual]: row.createdAt },
      OR: [{ createdAt: { [op]: row.createdAt } }, { id: { [op]: row.id } }],
    },
  };
}
