/** `ferry devices ls|show` and `ferry update DEVICE FW_ID`: the inventory, and one device's update. */
import { nounCommand, positive, positiveFlag, seg, singleCommand, str, table, when } from './command.ts';

const HELP = `Usage: ferry devices <command> [options]

The device inventory through the admin API at FERRY_URL (default http://127.0.0.1:8080) with the
token in FERRY_TOKEN (viewer role).

  ls [--class C] [--version V] [--status S] [--limit N]
                      devices (every page, or the first N), filtered by hardware class, firmware
                      version, status (registered, deregistered, expired)
  show ENDPOINT       one device, its update in flight and its latest events

  --json              the API's answer as JSON (ls: the devices as one array)
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

const UPDATE_HELP = `Usage: ferry update DEVICE FW_ID [--json]

Updates one device (by endpoint name) to the firmware image FW_ID (operator role), through the
admin API at FERRY_URL with the token in FERRY_TOKEN. Prints the update's id and state; follow it
with ferry devices show DEVICE.
Exit codes: 0 accepted, 1 refused or unreachable, 2 usage error.
`;

interface Device {
  id: number; endpoint: string; status: string; hardwareClass: string | null; firmwareVersion: string | null;
  lastSeen: string | null; address: string | null; port: number | null; registeredAt: string | null; binding: string;
}
interface Update { id: number; endpoint: string; state: string; firmwareId: number; error?: string | null }
interface Event { at: string; kind: string; actor?: string | null }

export const devicesCommand = nounCommand('devices', HELP, {
  ls: {
    role: 'viewer',
    options: { class: { type: 'string' }, version: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' } },
    run: async (c) => {
      const max = positiveFlag(c, 'limit');
      const devices = await c.api().list<Device>('/api/v1/devices', {
        hardwareClass: str(c, 'class'), firmwareVersion: str(c, 'version'), status: str(c, 'status'),
      }, { max, pageSize: 1000 });
      c.show(devices, (ds) => table(['ENDPOINT', 'STATUS', 'CLASS', 'VERSION', 'LAST SEEN', 'ADDRESS'],
        ds.map((d) => [d.endpoint, d.status, d.hardwareClass, d.firmwareVersion, when(d.lastSeen), d.address === null ? null : `${d.address}:${d.port}`])));
    },
  },
  show: {
    args: ['ENDPOINT'], role: 'viewer',
    run: async (c) => c.show(await c.api().get<Device & { activeUpdate: Update | null; events: Event[] }>(`/api/v1/devices/${seg(c.args[0]!)}`), (d) => {
      const lines = [
        `${d.endpoint} (id ${d.id}): ${d.status}`,
        `  class ${d.hardwareClass ?? '-'}, firmware ${d.firmwareVersion ?? '-'}, binding ${d.binding}`,
        `  registered ${when(d.registeredAt)}, last seen ${when(d.lastSeen)}${d.address === null ? '' : ` from ${d.address}:${d.port}`}`,
        `  update in flight: ${d.activeUpdate === null ? 'none' : `${d.activeUpdate.id} (firmware ${d.activeUpdate.firmwareId}, ${d.activeUpdate.state})`}`,
        ...(d.events.length === 0 ? [] : ['  latest events:', ...d.events.slice(-10).map((e) => `    ${when(e.at)}  ${e.kind}${e.actor ? `  ${e.actor}` : ''}`)]),
      ];
      return `${lines.join('\n')}\n`;
    }),
  },
});

export const updateCommand = singleCommand('update', UPDATE_HELP, {
  args: ['DEVICE', 'FW_ID'], role: 'operator',
  run: async (c) => {
    const firmwareId = positive(c.args[1], 'FW_ID');
    c.show(await c.api().call<Update>('POST', `/api/v1/devices/${seg(c.args[0]!)}/update`, { json: { firmwareId } }),
      (u) => `update ${u.id}: ${u.endpoint} to firmware ${u.firmwareId}, ${u.state}\n`);
  },
});
