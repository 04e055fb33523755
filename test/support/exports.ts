import type { SystemClient } from '../../src/db/system.ts';

export type ExportLine = Readonly<{ model?: string; row?: Record<string, unknown> }> &
  Record<string, unknown>;

/** An export's NDJSON as stored (its chunks in order), read past RLS by the test's system client. */
export async function storedExport(system: SystemClient, exportId: string): Promise<string> {
  const chunks = await system.dataExportChunk.findMany({
    where: { exportId },
    orderBy: { seq: 'asc' },
  });
  return chunks.map((chunk) => chunk.content).join('');
}

export function parseExport(text: string): ExportLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ExportLine);
}
