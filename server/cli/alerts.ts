/** `ferry alerts ls|ack`: the alerts Ferry raised, through the admin API. */
import { nounCommand, positive, positiveFlag, table, when } from './command.ts';

const HELP = `Usage: ferry alerts <command> [options]

Alerts (campaigns paused, updates failing, devices silent, …) through the admin API at FERRY_URL
(default http://127.0.0.1:8080) with the token in FERRY_TOKEN (viewer role for ls, operator for ack).

  ls [--unacked] [--limit N]   alerts by id; --unacked: only those not acknowledged
  ack ID                       acknowledge an alert

  --json                       the API's answer as JSON (ls: the alerts as one array)
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

interface Alert { id: number; at: string; kind: string; severity: string; message: string; acknowledgedAt: string | null }

export const alertsCommand = nounCommand('alerts', HELP, {
  ls: {
    role: 'viewer', options: { unacked: { type: 'boolean' }, limit: { type: 'string' } },
    run: async (c) => {
      const max = positiveFlag(c, 'limit');
      const alerts = await c.api().list<Alert>('/api/v1/alerts', { acknowledged: c.flags['unacked'] ? false : undefined }, { max, pageSize: 1000 });
      c.show(alerts, (as) => table(['ID', 'AT', 'SEVERITY', 'KIND', 'ACKED', 'MESSAGE'],
        as.map((a) => [a.id, when(a.at), a.severity, a.kind, when(a.acknowledgedAt), a.message]), [0]));
    },
  },
  ack: {
    args: ['ID'], role: 'operator',
    run: async (c) => c.show(await c.api().call<Alert>('POST', `/api/v1/alerts/${positive(c.args[0], 'ID')}/ack`),
      (a) => `alert ${a.id} (${a.kind}) acknowledged at ${when(a.acknowledgedAt)}\n`),
  },
});
