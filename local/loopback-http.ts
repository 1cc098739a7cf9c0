import type { IncomingMessage } from 'node:http';

/** Largest request body a loopback server reads, in bytes: commands are small. */
export const MAX_BODY = 64 * 1024;

/**
 * Whether a request names this loopback server as its Host: anything else is another site
 * that resolved its name to 127.0.0.1 (DNS rebinding) and must not be answered.
 *
 * @example
 * namesLoopback('127.0.0.1:8080', 8080); // true
 * namesLoopback('evil.example:8080', 8080); // false
 */
export function namesLoopback(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/** The request's body as text, or `null` if it is larger than {@link MAX_BODY}. */
export async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
