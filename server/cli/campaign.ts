/** `ferry campaign create|start|pause|resume|abort|show|watch`: campaigns through the admin API. */
import { CommandUsageError } from '../errors.ts';
import { progressText, watchCampaign, type Progress } from './campaign-watch.ts';
import { nounCommand, positive, readArg, str, strs, type Ctx, type Sub } from './command.ts';

const HELP = `Usage: ferry campaign <command> [options]

Campaigns (a firmware image rolled out to a fleet in waves) through the admin API at FERRY_URL
(default http://127.0.0.1:8080) with the token in FERRY_TOKEN (viewer role for show and watch,
operator for the rest).

  create --name N --fw ID [--class C] [--tag T]… [--endpoint E]… [--waves 10%,50%,100%]
         [--soak S] [--threshold F] [--testbed]
                      a draft campaign of image ID for the devices of class C having every tag T
                      (or the endpoints E); --waves: cumulative shares or counts (default 100%);
                      --soak: time between waves (seconds, or 90s, 15m, 12h, 2d); --threshold:
                      failure share that pauses it (0 to 1, or 5%); --testbed: a testbed campaign
  create --file campaign.json
                      the POST /api/v1/campaigns body as it is
  start ID [--allow-empty] | pause ID [--reason TEXT] | resume ID | abort ID
                      --allow-empty: start though no registered device matches the target (it
                      then waits for devices to register)
  show ID             its state and progress by wave
  watch ID            a progress bar per wave, refreshed every second, until it ends (without a
                      terminal: a line each time its progress changes)

  --json              the API's answer as JSON (watch: one JSON line per change)
Exit codes: 0 done (watch: completed), 1 refused or unreachable (watch: aborted), 2 usage error,
3 (watch) paused.
`;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90", "90s", "15m", "12h", "2d" as seconds. */
function seconds(text: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(text);
  if (!m) throw new CommandUsageError(`--soak takes seconds or a number and a unit (90s, 15m, 12h, 2d), not "${text}"`);
  return Number(m[1]) * UNITS[m[2] || 's']!;
}

function threshold(text: string): number {
  const pct = text.endsWith('%');
  const n = Number(pct ? text.slice(0, -1) : text) / (pct ? 100 : 1);
  if (text === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new CommandUsageError(`--threshold is from 0 to 1 (or 0% to 100%), not "${text}"`);
  return n;
}

function waves(list: string[]): Array<string | number> {
  return list.map((w) => {
    if (/^\d{1,3}(\.\d+)?%$/.test(w)) return w;
    if (/^[1-9]\d{0,8}$/.test(w)) return Number(w);
    throw new CommandUsageError(`--waves takes shares (10%) or device counts, comma-separated; not "${w}"`);
  });
}

const FLAG_NAMES = ['name', 'fw', 'class', 'tag', 'endpoint', 'waves', 'soak', 'threshold', 'testbed'] as const;

async function createBody(c: Ctx): Promise<unknown> {
  const file = str(c, 'file');
  if (file !== undefined) {
    const given = FLAG_NAMES.filter((f) => c.flags[f] !== undefined);
    if (given.length) throw new CommandUsageError(`--file or --${given[0]}, not both`);
    const text = await readArg(file, 'utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new CommandUsageError(`${file} is not JSON: ${(err as Error).message}`);
    }
  }
  const name = str(c, 'name');
  if (name === undefined) throw new CommandUsageError('campaign create needs --name N and --fw ID (or --file)');
  const soak = str(c, 'soak');
  const limit = str(c, 'threshold');
  const tags = strs(c, 'tag');
  const endpoints = strs(c, 'endpoint');
  const cls = str(c, 'class');
  return {
    name, firmwareId: positive(str(c, 'fw'), '--fw'),
    target: { ...(cls === undefined ? {} : { hardwareClass: cls }), ...(tags.length ? { tags } : {}), ...(endpoints.length ? { endpoints } : {}) },
    policy: {
      waves: waves(strs(c, 'waves').length ? strs(c, 'waves') : ['100%']),
      ...(soak === undefined ? {} : { soakSeconds: seconds(soak) }),
      ...(limit === undefined ? {} : { failureThreshold: threshold(limit) }),
    },
    ...(c.flags['testbed'] ? { testbed: true } : {}),
  };
}

const showProgress = (c: Ctx, p: Progress): void => c.show(p, progressText);

const OPTIONS = { pause: { reason: { type: 'string' } }, start: { 'allow-empty': { type: 'boolean' } } } as const;

const action = (name: 'start' | 'pause' | 'resume' | 'abort'): Sub => ({
  args: ['ID'], role: 'operator', ...(name === 'pause' || name === 'start' ? { options: OPTIONS[name] } : {}),
  run: async (c) => {
    const reason = str(c, 'reason');
    const body = { ...(reason === undefined ? {} : { reason }), ...(c.flags['allow-empty'] === true ? { allowEmpty: true } : {}) };
    const campaign = await c.api().call<Progress>('POST', `/api/v1/campaigns/${positive(c.args[0], 'ID')}/${name}`, { json: body });
    c.show(campaign, (p) => `campaign ${p.id} (${p.name}): ${p.state}${p.pauseReason ? `: ${p.pauseReason}` : ''}\n`);
  },
});

export const campaignCommand = nounCommand('campaign', HELP, {
  create: {
    role: 'operator',
    options: {
      name: { type: 'string' }, fw: { type: 'string' }, class: { type: 'string' }, tag: { type: 'string', multiple: true },
      endpoint: { type: 'string', multiple: true }, waves: { type: 'string' }, soak: { type: 'string' }, threshold: { type: 'string' },
      testbed: { type: 'boolean' }, file: { type: 'string' },
    },
    run: async (c) => {
      const created = await c.api().call<Progress>('POST', '/api/v1/campaigns', { json: await createBody(c) });
      c.show(created, (p) => `campaign ${p.id} (${p.name}) created: ${p.state}; start it with ferry campaign start ${p.id}\n`);
    },
  },
  start: action('start'),
  pause: action('pause'),
  resume: action('resume'),
  abort: action('abort'),
  show: {
    args: ['ID'], role: 'viewer',
    run: async (c) => showProgress(c, await c.api().get<Progress>(`/api/v1/campaigns/${positive(c.args[0], 'ID')}`)),
  },
  watch: {
    args: ['ID'], role: 'viewer',
    run: (c) => watchCampaign(c, positive(c.args[0], 'ID')),
  },
});
