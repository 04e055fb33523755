// Contender 3: PostGraphile v5 (Amber preset, grafserv on node http) on the same database and the
// same row-level-security policies. It connects as postgres and PostGraphile applies pgSettings
// transaction-locally (BEGIN; set_config(…, true); query; COMMIT): `role` switches to
// scopegraph_app, for which RLS applies, and `app.organization_id` comes from the same HS256
// token, verified with the same code and secret as scopegraph's.
//
// Unlike scopegraph it does not load the user per request (PostGraphile trusts the verified
// token); the report says so.
import { GraphQLError } from 'graphql';
import pg from 'pg';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { bearerToken } from '../../src/auth/bearer.ts';
import { createTokenService } from '../../src/auth/tokens.ts';
import { countPgQueries, type Handler, reportStartupFailure, serve, serverEnv } from './common.ts';

const APP_ROLE = 'scopegraph_app';

try {
  const env = serverEnv();
  countPgQueries();
  const tokens = createTokenService({ secret: env.jwtSecret });
  const pool = new pg.Pool({ connectionString: env.databaseUrl, max: env.poolSize });
  pool.on('error', () => {});
  const pgl = postgraphile({
    extends: [PostGraphileAmberPreset],
    pgServices: [makePgService({ pool, schemas: ['public'] })],
    grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false, websockets: false },
    grafast: {
      explain: false,
      context: async (requestContext) => {
        const token = bearerToken(requestContext.node?.req.headers.authorization);
        const claims = token ? await tokens.verify(token) : null;
        if (!claims) throw new GraphQLError('Invalid or expired token');
        return { pgSettings: { role: APP_ROLE, 'app.organization_id': claims.organizationId } };
      },
    },
  });
  // Build the schema (introspection) before telling the runner we are ready.
  await pgl.getSchema();
  const serv = pgl.createServ(grafserv);
  // createHandler (rather than addTo) so that common.ts routes /__bench first; no websockets.
  const handler: Handler = serv.createHandler();
  serve('postgraphile', handler, async () => {
    await serv.release();
    await pgl.release();
    await pool.end();
  });
} catch (error) {
  reportStartupFailure(error);
}
