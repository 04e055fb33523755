import type pg from 'pg';
import { withClient } from '../server.ts';

/** What pooled server sessions carry between transactions, read directly or through PgBouncer. */

// ---------------------------------------------------------------------------------------------
// Pooled connections

/** What a session carries between transactions; `leftoversOf` says what would be a leak. */
export type SessionState = Readonly<{
  pid: number;
  organization: string | null;
  currentUser: string;
  sessionUser: string;
  role: string;
  /** A transaction left open: this statement did not start it. */
  inTransaction: boolean;
}>;

export const SESSION_STATE_SQL = `SELECT pg_backend_pid() AS pid,
  current_setting('app.organization_id', true) AS organization,
  current_user::text AS "currentUser", session_user::text AS "sessionUser",
  current_setting('role') AS role, now() <> statement_timestamp() AS "inTransaction"`;

/**
 * A clean session logged in as `loginUser`: no organization set (never set: null; set earlier
 * transaction-locally, which leaves the placeholder behind empty: ''), no role switched, no
 * transaction open.
 */
export function leftoversOf(state: SessionState, loginUser: string): string[] {
  const found: string[] = [];
  if (state.organization !== null && state.organization !== '') {
    found.push(`app.organization_id = '${state.organization}'`);
  }
  if (state.currentUser !== loginUser) found.push(`current_user = ${state.currentUser}`);
  if (state.sessionUser !== loginUser) found.push(`session_user = ${state.sessionUser}`);
  if (state.role !== 'none') found.push(`role = ${state.role}`);
  if (state.inTransaction) found.push('a transaction is still open');
  return found.map((leftover) => `backend ${state.pid}: ${leftover}`);
}

/**
 * Checks out every connection of the pool at once (the idle ones the load left first), and
 * reads what each session carries, with `SHOW role` as well.
 */
export async function inspectPool(pool: pg.Pool): Promise<{
  pooled: number;
  states: SessionState[];
}> {
  const pooled = pool.totalCount;
  const size = pool.options.max ?? 10;
  const clients = await Promise.all(Array.from({ length: size }, () => pool.connect()));
  try {
    const states = await Promise.all(
      clients.map(async (client) => {
        const { rows } = await client.query<SessionState>(SESSION_STATE_SQL);
        const shown = await client.query<{ role: string }>('SHOW role');
        const state = rows[0] as SessionState;
        // SHOW role and current_setting('role') read the same setting; both must say none.
        const role = shown.rows[0]?.role ?? '?';
        return { ...state, role: role === state.role ? role : `${state.role}/${role}` };
      }),
    );
    return { pooled, states };
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * Reads every server connection a PgBouncer holds for one database: `poolSize` clients each
 * run one statement that sleeps, so all of them occupy a server connection at once and each
 * lands on a different one. The server's own list (pg_stat_activity) says whether that was
 * all of them.
 */
export async function inspectThroughPooler(
  pooledUrl: string,
  serverUrl: string,
  database: string,
  poolSize: number,
): Promise<{ states: SessionState[]; serverPids: number[] }> {
  const states = await Promise.all(
    Array.from({ length: poolSize }, () =>
      withClient(pooledUrl, async (client) => {
        const { rows } = await client.query<SessionState & { slept: unknown }>(
          `${SESSION_STATE_SQL}, pg_sleep(0.5)::text AS slept`,
        );
        const { slept: _, ...state } = rows[0] as SessionState & { slept: unknown };
        return state;
      }),
    ),
  );
  const serverPids = await withClient(serverUrl, async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY pid',
      [database],
    );
    return rows.map((row) => row.pid);
  });
  return { states, serverPids };
}
