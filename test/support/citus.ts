import { databaseUrl, withClient } from './server.ts';

/**
 * A Citus cluster behind TEST_DATABASE_URL: its coordinator (that URL) and workers. Each test
 * database is made on every node (Citus does not propagate CREATE DATABASE), with the
 * extension and the nodes registered in it; it cannot be a TEMPLATE copy (Citus' maintenance
 * daemon keeps a connection to each Citus database), so each is migrated from scratch.
 */
export type CitusCluster = Readonly<{
  coordinator: string;
  /** The workers' URLs: the coordinator's, with their host and port. */
  workers: readonly string[];
}>;

/**
 * The cluster `serverUrl` coordinates, read from its maintenance database's node list; null
 * for plain PostgreSQL (no citus extension there).
 */
export async function citusCluster(serverUrl: string): Promise<CitusCluster | null> {
  return withClient(serverUrl, async (client) => {
    const installed = await client.query(
      "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS citus",
    );
    if (installed.rows[0]?.citus !== true) return null;
    const nodes = await client.query<{ nodename: string; nodeport: number }>(
      "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid",
    );
    const workers = nodes.rows.map(({ nodename, nodeport }) => {
      const url = new URL(serverUrl);
      url.hostname = nodename;
      url.port = String(nodeport);
      return url.toString();
    });
    return Object.freeze({ coordinator: serverUrl, workers });
  });
}

/** A new, empty database `name` on every node of `cluster`, ready to be migrated. */
export async function createCitusDatabase(cluster: CitusCluster, name: string): Promise<void> {
  for (const node of [...cluster.workers, cluster.coordinator]) {
    await withClient(node, (client) => client.query(`CREATE DATABASE "${name}"`));
    await withClient(databaseUrl(node, name), (client) => client.query('CREATE EXTENSION citus'));
  }
  await withClient(databaseUrl(cluster.coordinator, name), async (client) => {
    const coordinator = new URL(cluster.coordinator);
    await client.query('SELECT citus_set_coordinator_host($1, $2)', [
      coordinator.hostname,
      Number(coordinator.port || 5432),
    ]);
    for (const worker of cluster.workers) {
      const url = new URL(worker);
      await client.query('SELECT citus_add_node($1, $2)', [url.hostname, Number(url.port || 5432)]);
    }
  });
}

export async function dropCitusDatabase(cluster: CitusCluster, name: string): Promise<void> {
  for (const node of [cluster.coordinator, ...cluster.workers]) {
    await withClient(node, (client) =>
      client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
    );
  }
}

/**
 * After the migrations created it: the application role may log in, as Citus connects to the
 * workers as the current role (README, "Scaling out"; a trusted local cluster needs no password).
 */
export async function letAppRoleLogIn(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query(
      "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'scopegraph_app'",
    );
    if (rows[0]?.rolcanlogin === true) return;
    // Roles are cluster-wide: two test files may get here at once ("tuple concurrently
    // updated"); the second finds it done.
    await client.query('ALTER ROLE scopegraph_app LOGIN').catch(async (error: unknown) => {
      const again = await client.query(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'scopegraph_app'",
      );
      if (again.rows[0]?.rolcanlogin !== true) throw error;
    });
  });
}
