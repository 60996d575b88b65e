/** `ferry fw upload|ls|rm`: firmware images through the admin API. */
import { CommandUsageError } from '../errors.ts';
import { query } from './api.ts';
import { nounCommand, positive, readArg, str, table, when } from './command.ts';

const HELP = `Usage: ferry fw <command> [options]

Firmware images through the admin API at FERRY_URL (default http://127.0.0.1:8080) with the token
in FERRY_TOKEN (viewer role for ls, operator for the rest).

  upload FILE [--version V --class C] [--delivery package|payload]
                      upload a signed package (ferry sign), or a raw image with --version and
                      --class for the server to sign (it needs --signing-key); --delivery: what
                      devices download, the whole package (default) or the bare payload
  ls                  every image: id, version, class, release state, size, signing key
  rm ID               delete an image's bytes (its record stays for the updates that used it)

  --json              the API's answer as JSON
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

interface Image {
  id: number; version: string; hardwareClass: string; size: number; delivery: string; state?: string;
  keyName: string | null; sequence: number | null; createdAt: string;
}

const line = (i: Image): string => `firmware ${i.id}: ${i.hardwareClass} ${i.version}, ${i.size} bytes, ${i.state ?? '-'}, signed by ${i.keyName ?? '-'}\n`;

export const firmwareCommand = nounCommand('fw', HELP, {
  upload: {
    args: ['FILE'], role: 'operator',
    options: { version: { type: 'string' }, class: { type: 'string' }, delivery: { type: 'string' } },
    run: async (c) => {
      const delivery = str(c, 'delivery');
      if (delivery !== undefined && delivery !== 'package' && delivery !== 'payload') throw new CommandUsageError('--delivery is package or payload');
      const body = await readArg(c.args[0]!);
      const q = query({ version: str(c, 'version'), hardwareClass: str(c, 'class'), delivery });
      c.show(await c.api().call<Image>('POST', `/api/v1/firmware${q}`, { body }), line);
    },
  },
  ls: {
    role: 'viewer',
    run: async (c) => c.show(await c.api().list<Image>('/api/v1/firmware'), (images) => table(
      ['ID', 'CLASS', 'VERSION', 'STATE', 'SIZE', 'SEQUENCE', 'KEY', 'DELIVERY', 'UPLOADED'],
      images.map((i) => [i.id, i.hardwareClass, i.version, i.state, i.size, i.sequence, i.keyName, i.delivery, when(i.createdAt)]), [0, 4, 5])),
  },
  rm: {
    args: ['ID'], role: 'operator',
    run: async (c) => {
      const id = positive(c.args[0], 'ID');
      await c.api().call('DELETE', `/api/v1/firmware/${id}`);
      c.show({ id, deleted: true }, () => `firmware ${id} deleted\n`);
    },
  },
});
