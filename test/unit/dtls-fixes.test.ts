/**
 * werift's DTLS client and server over an in-memory wire that delivers the server's
 * HelloVerifyRequest twice, as happens when the client's ClientHello was sent twice. The client
 * must still connect (werift alone fails the connection on the repeat).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CipherContext, DtlsClient, DtlsServer, HashAlgorithm, NamedCurveAlgorithm, ProtectionProfileAeadAes128Gcm, SignatureAlgorithm } from 'werift';
import { dtlsFixCounters, installWeriftPatches } from '../../src/relay/werift/index.js';

installWeriftPatches();

const HANDSHAKE = 22;
const HELLO_VERIFY_REQUEST = 3;

interface End {
  send(data: Buffer): Promise<void>;
  onData: (data: Buffer) => void;
  close(): void;
  closed: boolean;
  type: string;
  address: object;
}

function end(deliver: (data: Buffer) => void): End {
  return {
    onData: () => undefined,
    send: async (data) => void setImmediate(() => deliver(Buffer.from(data))),
    close() {},
    closed: false,
    type: 'udp',
    address: {},
  };
}

async function certificate() {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey(
    { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
    NamedCurveAlgorithm.secp256r1_23,
  );
  return { cert: certPem, key: keyPem, signatureHash };
}

test('a repeated HelloVerifyRequest does not fail the DTLS client; both ends connect and talk', async () => {
  let repeated = 0;
  const client: End = end((data) => server.onData(data));
  const server: End = end((data) => {
    client.onData(data);
    // A DTLS record (13-byte header) carrying a HelloVerifyRequest: deliver it a second time.
    if (data[0] === HANDSHAKE && data[13] === HELLO_VERIFY_REQUEST) {
      repeated++;
      setTimeout(() => client.onData(Buffer.from(data)), 5);
    }
  });
  const [serverCert, clientCert] = await Promise.all([certificate(), certificate()]);
  const dtlsServer = new DtlsServer({ ...serverCert, transport: server, srtpProfiles: [ProtectionProfileAeadAes128Gcm], certificateRequest: true, extendedMasterSecret: true } as never);
  const dtlsClient = new DtlsClient({ ...clientCert, transport: client, srtpProfiles: [ProtectionProfileAeadAes128Gcm], extendedMasterSecret: true } as never);
  const failed = new Promise<string>((resolve) => dtlsClient.onError.once((e: unknown) => resolve(`client failed: ${String(e)}`)));
  const connected = Promise.all([
    new Promise<void>((r) => dtlsServer.onConnect.once(() => r())),
    new Promise<void>((r) => dtlsClient.onConnect.once(() => r())),
  ]).then(() => 'connected');
  const before = dtlsFixCounters.repeatedHelloVerifyRequests;
  void dtlsClient.connect().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([connected, failed, new Promise<string>((r) => (timer = setTimeout(() => r('timed out'), 8_000)))]);
  clearTimeout(timer);
  assert.ok(repeated > 0, 'the wire repeated a HelloVerifyRequest');
  assert.equal(outcome, 'connected');
  assert.ok(dtlsFixCounters.repeatedHelloVerifyRequests > before, 'the repeat was dropped');
  const got = new Promise<string>((resolve) => dtlsServer.onData.once((d: Buffer) => resolve(d.toString())));
  await dtlsClient.send(Buffer.from('hello over DTLS'));
  assert.equal(await got, 'hello over DTLS');
  dtlsServer.close();
  dtlsClient.close();
});
