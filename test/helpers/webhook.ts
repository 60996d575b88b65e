/** A webhook receiver for tests: an HTTP server on 127.0.0.1 that records each request and answers as told. */
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface HookRequest { at: number; method: string; headers: IncomingHttpHeaders; body: string }

export interface Hook {
  url: string;
  requests: HookRequest[];
  /** Status (and headers) for the n-th request (0-based), or 'hang' to never answer. */
  answer: (n: number) => number | { status: number; headers: Record<string, string> } | 'hang';
  close(): Promise<void>;
}

export async function startHook(answer: Hook['answer'] = () => 200): Promise<Hook> {
  const requests: HookRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = requests.length;
      requests.push({ at: Date.now(), method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const a = hook.answer(n);
      if (a === 'hang') return;
      const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : a;
      res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  const hook: Hook = {
    url: `http://127.0.0.1:${port}/hook?token=t`, requests, answer,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return hook;
}
