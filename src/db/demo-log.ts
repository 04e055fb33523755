import type { LogFormat, Logger } from '../logging.ts';

export type DemoLogin = Readonly<{
  organizationSlug: string;
  email: string;
  role: string;
  token: string;
}>;

/**
 * The demo accounts at start-up (development only). For a person (pretty): a short table, then
 * each token alone on a line, easy to select and copy. For machines (JSON): one line per account.
 */
export function logDemoAccounts(
  logger: Logger,
  format: LogFormat,
  demo: Readonly<{ password: string; accounts: readonly DemoLogin[] }>,
): void {
  const title = `demo accounts (development only), password ${demo.password}`;
  if (format === 'json') {
    logger.info(title);
    for (const { organizationSlug, email, role, token } of demo.accounts) {
      logger.info({ organizationSlug, email, role, token }, 'demo account');
    }
    return;
  }
  logger.info([title, ...demoTable(demo.accounts)].join('\n'));
}

export function demoTable(accounts: readonly DemoLogin[]): string[] {
  const rows = [
    ['#', 'organization', 'email', 'role'],
    ...accounts.map((a, i) => [String(i + 1), a.organizationSlug, a.email, a.role]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((r) => r[column]?.length ?? 0)));
  const line = (row: string[]) =>
    `  ${row.map((cell, column) => cell.padEnd(widths?.[column] ?? 0)).join('  ')}`.trimEnd();
  return [
    ...rows.map(line),
    '  tokens (Authorization: Bearer <token>):',
    ...accounts.map((a, i) => `  ${i + 1}  ${a.token}`),
  ];
}

/** The platform admin's token beside the demo accounts, alone on its line for a person. */
export function logAdminToken(
  logger: Logger,
  format: LogFormat,
  admin: Readonly<{ endpoint: string; token: string }>,
): void {
  const title = 'platform admin token, 1 h (npm run admin:token)';
  if (format === 'json') logger.info(admin, title);
  else logger.info(`${title}, for ${admin.endpoint}:\n  ${admin.token}`);
}
