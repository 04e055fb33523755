import { loadConfig } from '../../src/config.ts';

// The process's own configuration (.env and the environment), for test/config.test.ts.
process.stdout.write(JSON.stringify(loadConfig()));
