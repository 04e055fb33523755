import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyAddr from 'proxy-addr';

/** Where a request came from, as the audit log records it. */
export type Client = Readonly<{ address: string | null }>;

export type ClientOf = (request: Request, serverContext: unknown) => Client;

/**
 * Which proxies in front of the API may say who the client is (TRUST_PROXY), as `proxy-addr`
 * reads it: a hop count ("1": the socket's peer is a proxy, believe the one address it adds),
 * or addresses, CIDR ranges and proxy-addr's names ("loopback", "linklocal", "uniquelocal"),
 * comma-separated. Unset: nobody, and the socket's peer is the client.
 */
export function parseTrustProxy(value: string): (address: string, hop: number) => boolean {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return (_address, hop) => hop < hops;
  }
  const list = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error('TRUST_PROXY is empty: give a hop count or addresses');
  // Throws on anything that is not an address, a range or one of the names.
  return proxyAddr.compile(list);
}

/**
 * The client's address from the socket (node:http passes its IncomingMessage as `req`), walked
 * back through X-Forwarded-For only across the trusted proxies; null for requests made
 * in-process through `yoga.fetch`, which have no socket. X-Forwarded-For from anyone else is a
 * claim any client can make, and is ignored.
 */
export function clientAddress(trustProxy: string | undefined): ClientOf {
  const trust = trustProxy ? parseTrustProxy(trustProxy) : null;
  return (_request, serverContext) => {
    const req = (serverContext as { req?: IncomingMessage } | null)?.req;
    const peer = req?.socket?.remoteAddress;
    if (!req || typeof peer !== 'string') return Object.freeze({ address: null });
    const address = trust ? proxyAddr(req, trust) : peer;
    return Object.freeze({ address: isIP(address) ? address : null });
  };
}
