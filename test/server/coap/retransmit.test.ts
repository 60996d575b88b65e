// RFC 7252 §4.2: a CON request whose datagram is lost goes again after ACK_TIMEOUT, whatever else
// the DM client does meanwhile. node-coap's Agent resets every retransmission in flight when its
// count of open requests reaches zero, and that count drifts (a request answered with an error
// and then aborted counts twice): a lost Execute was then never sent again, and the device sat in
// Downloaded until the update timed out. The "devices" are raw coap-packet sockets.
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DmClient, DmError } from '../../../server/coap/dm-client.ts';
import { CoapEndpoint } from '../../../server/coap/endpoint.ts';
import { replyError } from '../../../server/coap/message.ts';
import { coapRefusal } from '../../../server/coap/refusal.ts';
import { silentLogger } from '../../../server/log.ts';

/** Answers every CON request with `code`, after dropping the first `drop` datagrams it receives. */
class RawDevice {
  readonly received: ParsedPacket[] = [];
  readonly socket: Socket;
  private readonly code: string;
  private drop: number;
  private constructor(socket: Socket, code: string, drop: number) {
    this.socket = socket;
    this.code = code;
    this.drop = drop;
  }

  static async start(code: string, drop = 0): Promise<RawDevice> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const d = new RawDevice(socket, code, drop);
    socket.on('message', (msg, rinfo) => {
      const req = parse(msg);
      d.received.push(req);
      if (d.drop > 0) { d.drop -= 1; return; }
      socket.send(generate({ ack: true, code: d.code, messageId: req.messageId, token: req.token, payload: Buffer.from('x') }), rinfo.port, rinfo.address);
    });
    return d;
  }

  target(endpoint: string) { return { endpoint, address: '127.0.0.1', port: this.socket.address().port }; }
  close(): Promise<void> { return new Promise((r) => this.socket.close(() => r())); }
}

for (const errors of [1, 2]) {
  test(`a lost CON is retransmitted after ${errors} request(s) ended in an error answer and others completed meanwhile`, async () => {
    const coap = await CoapEndpoint.listen({ host: '127.0.0.1', port: 0, log: silentLogger(), handler: (_req, res) => replyError(res, coapRefusal('FERRY_COAP_NOT_FOUND', 'none')) });
    const dm = new DmClient({ agent: coap.agent, timeoutMs: 8000, log: silentLogger() });
    const refusing = await RawDevice.start('4.05');
    const lossy = await RawDevice.start('2.04', 1);
    const quick = await Promise.all(Array.from({ length: errors }, () => RawDevice.start('2.04')));
    try {
      // Requests answered with an error: each is aborted after its response.
      for (let i = 0; i < errors; i++) {
        const err = await dm.execute(refusing.target('refusing'), '/5/0/2').then(() => undefined, (e: unknown) => e);
        assert.instance(err, DmError);
      }
      // The Execute's first datagram is lost; while it waits for its retransmission other devices'
      // requests complete (one of them brought node-coap's drifted count to zero).
      const lost = dm.execute(lossy.target('lossy'), '/5/0/2');
      await new Promise((r) => setTimeout(r, 100));
      const answers = await Promise.all(quick.map((d, i) => dm.execute(d.target(`quick-${i}`), '/3/0/4')));
      assert.equal(answers.map((a) => a.code), quick.map(() => '2.04'));
      const res = await lost;
      assert.is(res.code, '2.04');
      assert.is(lossy.received.length, 2, 'sent twice: the lost datagram and its retransmission');
      assert.is(lossy.received[0]!.messageId, lossy.received[1]!.messageId, 'the same message again (RFC 7252 §4.2)');
    } finally {
      dm.close();
      await Promise.all([refusing.close(), lossy.close(), ...quick.map((d) => d.close())]);
      await coap.close();
    }
  });
}

test.run();
