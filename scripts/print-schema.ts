// npm run schema:print — writes schema.graphql (sorted). test/api/schema.test.ts fails on drift.
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';

writeFileSync(new URL('../schema.graphql', import.meta.url), `${printSchema(schema)}\n`);
console.log('Wrote schema.graphql');
