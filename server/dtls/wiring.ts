/**
 * What the rest of the server hears from each DTLS layer: a completed handshake confirms a rotated
 * key (the previous one goes once the device has used the new one), and the layers' counts are
 * Prometheus series.
 */
import type { CredentialService } from '../credentials/service.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { DtlsSocket, DtlsStats, SessionStarted } from './socket.ts';

/**
 * A handshake completed. Only while a rotation is pending is there anything to record: with the new
 * identity the previous key goes; with the previous one, its use is noted. Never awaited by the handshake.
 */
export function confirmRotation(credentials: CredentialService, s: SessionStarted, log: Logger): void {
  const identity = s.identity.toString('utf8');
  void credentials.pskFor(identity).then(async (found) => {
    if (found === undefined || !found.rotationPending) return;
    await credentials.handshakeDone(identity, found.current === null);
  }).catch((err: unknown) => log.warn({ err, identity }, 'could not record a DTLS handshake'));
}

const OUTCOMES: ReadonlyArray<keyof DtlsStats> = [
  'helloVerifyRequests', 'handshakesStarted', 'handshakesCompleted', 'failedAtFinished', 'handshakesFailed', 'recordsDropped', 'retransmissions',
];

export function registerDtlsMetrics(metrics: Metrics, layers: Record<string, DtlsSocket | undefined>): void {
  const live = Object.entries(layers).filter((e): e is [string, DtlsSocket] => e[1] !== undefined);
  metrics.registerCollector('ferry_dtls_sessions', 'established DTLS sessions and half-open handshakes now, by socket', ['socket', 'state'],
    () => live.flatMap(([socket, d]) => [
      { labels: { socket, state: 'established' }, value: d.counts.sessions },
      { labels: { socket, state: 'half-open' }, value: d.counts.halfOpen },
    ]));
  metrics.registerCollector('ferry_dtls_events', 'DTLS events since start, by socket and kind (helloVerifyRequests, handshakesStarted, handshakesCompleted, failedAtFinished: a wrong key or an unknown identity, handshakesFailed, recordsDropped: did not authenticate or replayed, retransmissions)',
    ['socket', 'kind'], () => live.flatMap(([socket, d]) => OUTCOMES.map((kind) => ({ labels: { socket, kind }, value: d.stats[kind] }))));
}
