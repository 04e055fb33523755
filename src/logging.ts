import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/** `pretty`: coloured lines for a person at a terminal; `json`: one JSON object a line. */
export type LogFormat = 'pretty' | 'json';

/**
 * LOG_FORMAT when set (checked by src/config.ts); otherwise pretty only for a terminal outside
 * production, so that a container, a pipe or a log shipper always gets JSON.
 */
export function logFormat(
  options: Readonly<{ chosen: LogFormat | undefined; production: boolean }>,
  isTTY: boolean,
): LogFormat {
  return options.chosen ?? (isTTY && !options.production ? 'pretty' : 'json');
}

/** What every line logged while a request is handled carries (src/http/access-log.ts sets it). */
export type RequestFields = { requestId: string; organizationId?: string };

const requestFields = new AsyncLocalStorage<RequestFields>();

/** Runs `fn` with `fields` on every line it logs, in whichever module it logs. */
export function withRequestFields<T>(fields: RequestFields, fn: () => T): T {
  return requestFields.run(fields, fn);
}

/** The current request's fields (mutable: the organization is known only once authenticated). */
export function currentRequestFields(): RequestFields | undefined {
  return requestFields.getStore();
}

/** Names the organization on the request's lines from here on (the access line among them). */
export function noteOrganization(organizationId: string | null | undefined): void {
  const fields = currentRequestFields();
  if (fields && organizationId) fields.organizationId = organizationId;
}

export type LoggerOptions = Readonly<{
  format?: LogFormat;
  /** Where JSON lines go (tests read them); standard output otherwise. */
  destination?: DestinationStream;
}>;

/**
 * pino-pretty, loaded when a logger prints for a person: a server logging JSON (production, a
 * container, the bench) never holds its ~12 MB. Synchronous, because createLogger is.
 */
function prettyStream(): typeof PinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
}

export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const destination =
    options.destination ??
    (options.format === 'pretty'
      ? prettyStream()({
          colorize: true,
          // Written at once, so that nothing is lost when the process exits right after.
          sync: true,
          singleLine: true,
          ignore: 'pid,hostname,service',
          translateTime: 'SYS:HH:MM:ss.l',
        })
      : undefined);
  return pino(
    {
      level,
      base: { service: 'scopegraph' },
      mixin: () => ({ ...requestFields.getStore() }),
    },
    destination,
  );
}
