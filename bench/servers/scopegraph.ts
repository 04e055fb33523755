// Contender 1: scopegraph as shipped — createApi over openDatabase, the tenant binding and RLS.
import { createTokenService } from '../../src/auth/tokens.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createApi } from '../../src/http/yoga.ts';
import { createLogger } from '../../src/logging.ts';
import {
  countPgQueries,
  countPrismaPlans,
  type Handler,
  reportStartupFailure,
  serve,
  serverEnv,
} from './common.ts';

try {
  const env = serverEnv();
  countPgQueries();
  await countPrismaPlans();
  const database = await openDatabase({ url: env.databaseUrl, poolSize: env.poolSize });
  const api = createApi({
    database,
    tokens: createTokenService({ secret: env.jwtSecret }),
    logger: createLogger(env.logLevel),
    introspection: false,
    graphiql: false,
    compiledExecution: process.env.COMPILED_EXECUTION !== 'off',
  });
  // Yoga's server instance is itself a node request listener; its type is a wide union.
  serve('scopegraph', api.yoga as unknown as Handler, async () => {
    await api.close();
    await database.close();
  });
} catch (error) {
  reportStartupFailure(error);
}
