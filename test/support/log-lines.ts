import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging.ts';

export type LogLine = Record<string, unknown>;

/** The app's own logger (createLogger), writing its JSON lines into memory. */
export function capturedLogger() {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger('debug', { destination }) };
}
