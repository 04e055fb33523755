import { isIP } from 'node:net';

/** Where a request came from, as the audit log records it. */
export type Client = Readonly<{ address: string | null }>;

/**
 * The first hop of X-Forwarded-For when it is an IP address, else the socket's peer when the
 * server adapter gives one (node:http passes its IncomingMessage as `req`), else null (requests
 * made in-process through `yoga.fetch`).
 *
 * X-Forwarded-For is whatever the client sent unless a proxy in front overwrites it: behind a
 * trusted proxy it is the client, without one it is a claim. It is recorded, never trusted for
 * a decision.
 */
export function clientOf(request: Request, serverContext: unknown): Client {
  const forwarded = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
  if (forwarded && isIP(forwarded)) return Object.freeze({ address: forwarded });
  const peer = (serverContext as { req?: { socket?: { remoteAddress?: unknown } } } | null)?.req
    ?.socket?.remoteAddress;
  return Object.freeze({ address: typeof peer === 'string' && isIP(peer) ? peer : null });
}
