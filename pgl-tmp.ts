import { PGlite } from '@electric-sql/pglite';
import { writeFileSync, readFileSync } from 'node:fs';
const mode = process.argv[2];
const t0 = performance.now(); const c0 = process.cpuUsage();
if (mode === 'dump') {
  const lite = new PGlite(); await lite.waitReady;
  await lite.exec('CREATE TABLE x (a int)');
  const blob = await lite.dumpDataDir('none');
  writeFileSync('/tmp/pgl.tar', Buffer.from(await blob.arrayBuffer()));
  console.log('dumped', (await blob.arrayBuffer()).byteLength);
} else if (mode === 'load') {
  const buf = readFileSync('/tmp/pgl.tar');
  const lite = new PGlite({ loadDataDir: new Blob([buf]) }); await lite.waitReady;
  console.log((await lite.query('select count(*) from x')).rows);
} else {
  const lite = new PGlite(); await lite.waitReady;
}
const c = process.cpuUsage(c0);
console.log(mode, { wall: performance.now() - t0, cpu: (c.user + c.system) / 1e6 });
