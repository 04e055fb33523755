// Prisma's schema engine compiled to WebAssembly, loaded by hand, and one session of it over a
// driver adapter factory (fixed for migrations by adapters.ts).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { SchemaContainer, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm';
import { forMigrations } from './adapters.ts';

export const NO_FILTERS: SchemaFilter = { externalTables: [], externalEnums: [] };

type EngineModule = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');

// Node has WebAssembly, but the project's `lib` (no DOM) does not declare it.
const webAssembly = Reflect.get(globalThis, 'WebAssembly') as {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, object>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let engineModule: Promise<EngineModule> | undefined;
let lastPanic: string | undefined;

// The package's main entry imports the .wasm as an ES module, which Node does not do; its exports
// expose the JS glue but not the .wasm, so load the .wasm beside the glue and wire them by hand.
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    // A panic inside the engine reports its message here; without it only "unreachable" is seen.
    Reflect.set(globalThis, 'PRISMA_WASM_PANIC_REGISTRY', {
      set_message: (message: string) => {
        lastPanic = message;
      },
    });
    const gluePath = createRequire(import.meta.url).resolve(
      '@prisma/schema-engine-wasm/schema_engine_bg',
    );
    const glue: EngineModule = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasm = await readFile(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'));
    const imports = { './schema_engine_bg.js': withUnrefTimers(glue) };
    const { instance } = await webAssembly.instantiate(wasm, imports);
    glue.__wbg_set_wasm(instance.exports);
    const start = instance.exports.__wbindgen_start;
    if (typeof start !== 'function') throw new Error('schema-engine-wasm: no __wbindgen_start');
    start();
    return glue;
  })();
  return engineModule;
}

// The engine arms a 10 s timer it never clears (seen after applyMigrations), which kept every
// process that migrated alive for 10 s after its work was done. Let such timers run without
// holding the process open.
function withUnrefTimers(glue: EngineModule): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(glue as Record<string, unknown>).map(([name, value]) =>
      name.startsWith('__wbg_setTimeout_') && typeof value === 'function'
        ? [name, (...args: unknown[]) => unrefTimer(Reflect.apply(value, undefined, args))]
        : [name, value],
    ),
  );
}

function unrefTimer(timer: unknown): unknown {
  if (timer instanceof Object && 'unref' in timer && typeof timer.unref === 'function') {
    timer.unref();
  }
  return timer;
}

export interface EngineSession {
  engine: SchemaEngine;
  schemaFiles: SchemaContainer[];
  connect: () => Promise<SqlDriverAdapter>;
}

/** Runs `run` with an engine over `factory` and the schema at `schemaPath`, then frees it all. */
export async function withEngine<T>(
  factory: SqlMigrationAwareDriverAdapterFactory,
  schemaPath: string,
  run: (session: EngineSession) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  const schemaFiles = [{ path: schemaPath, content: await readFile(schemaPath, 'utf8') }];
  const migrationFactory = await forMigrations(factory);
  let result: T;
  try {
    const engine = await SchemaEngine.new(
      { datamodels: schemaFiles.map((file) => [file.path, file.content]) },
      () => {},
      bindMigrationAwareSqlAdapterFactory(migrationFactory),
    );
    try {
      result = await run({ engine, schemaFiles, connect: () => migrationFactory.connect() });
    } finally {
      engine.free();
    }
  } catch (error) {
    if (error instanceof Error && lastPanic) error.message += `\nSchema engine panic: ${lastPanic}`;
    lastPanic = undefined;
    // Keep the error that stopped the operation; one from cleaning up after it comes second.
    await migrationFactory.close().catch((closeError: unknown) => {
      if (error instanceof Error) error.message += `\nCleaning up failed too: ${closeError}`;
    });
    throw error;
  }
  await migrationFactory.close();
  return result;
}
