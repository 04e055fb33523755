/**
 * A GraphQL subscription over Server-Sent Events (GraphQL over SSE, "distinct connections"
 * mode, as Yoga serves it): POST with `Accept: text/event-stream`, then read `next` events.
 */
export type Subscription = Readonly<{
  /**
   * The next `next` event's payload, or null if none arrives within `ms` (at once, once the
   * stream has ended and every event was read).
   */
  next: (ms?: number) => Promise<SsePayload | null>;
  status: number;
  /** Settles when the response body ends: `complete` if the server sent a `complete` event. */
  ended: Promise<'complete' | 'closed'>;
  /** Every frame received so far, for failure messages. */
  frames: () => string[];
  close: () => void;
}>;

export type SsePayload = {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
};

export async function subscribe(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<Subscription> {
  const abort = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
    signal: abort.signal,
  });
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  const queue: SsePayload[] = [];
  const waiting: ((payload: SsePayload | null) => void)[] = [];
  let buffer = '';
  const frames: string[] = [];
  let over = false;
  let completed = false;
  const deliver = (payload: SsePayload) => {
    const waiter = waiting.shift();
    if (waiter) waiter(payload);
    else queue.push(payload);
  };
  const ended = (async () => {
    try {
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          frames.push(frame);
          const lines = frame.split('\n');
          const event = lines
            .find((line) => line.startsWith('event:'))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          if (event === 'next' && data) deliver(JSON.parse(data) as SsePayload);
          if (event === 'complete') completed = true;
        }
      }
      frames.push('(stream ended)');
    } catch (error) {
      frames.push(`(stream failed: ${String(error)})`);
    }
    over = true;
    for (const waiter of waiting.splice(0)) waiter(null);
    return completed ? ('complete' as const) : ('closed' as const);
  })();
  return Object.freeze({
    status: response.status,
    frames: () => [...frames],
    ended,
    next: (ms = 3_000) => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (over) return Promise.resolve(null);
      return new Promise<SsePayload | null>((resolve) => {
        const timer = setTimeout(() => {
          const index = waiting.indexOf(settle);
          if (index >= 0) waiting.splice(index, 1);
          resolve(null);
        }, ms);
        const settle = (payload: SsePayload | null) => {
          clearTimeout(timer);
          resolve(payload);
        };
        waiting.push(settle);
      });
    },
    close: () => abort.abort(),
  });
}
