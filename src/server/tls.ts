/**
 * HTTPS out of the box: the user's own certificate, or a self-signed one made on first run and
 * kept in the data directory (remade when this machine's addresses are no longer all in it).
 * Browsers warn about a self-signed certificate once; after that a phone on the LAN has the
 * secure context `getUserMedia` needs.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** Where it came from, for the banner. */
  source: 'user' | 'generated' | 'data-dir';
  path: string;
}

export async function loadTls(opts: {
  cert: string | undefined;
  key: string | undefined;
  dataDir: string;
  addresses: string[];
}): Promise<TlsMaterial> {
  if (opts.cert && opts.key) {
    return { cert: await readFile(opts.cert, 'utf8'), key: await readFile(opts.key, 'utf8'), source: 'user', path: opts.cert };
  }
  const certPath = join(opts.dataDir, 'cert.pem');
  const keyPath = join(opts.dataDir, 'key.pem');
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const x509 = new X509Certificate(cert);
    const stillValid = new Date(x509.validTo).getTime() > Date.now() + 24 * 3600_000;
    const covers = opts.addresses.every((a) => x509.checkIP(a) !== undefined);
    if (stillValid && covers) return { cert, key, source: 'data-dir', path: certPath };
  } catch {
    // missing or unreadable: make a new one
  }
  const altNames = [
    { type: 2 as const, value: 'localhost' },
    ...[...new Set(['127.0.0.1', ...opts.addresses])].map((ip) => ({ type: 7 as const, ip })),
  ];
  const pems = await generate([{ name: 'commonName', value: 'lancast' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 825 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  await writeFile(certPath, pems.cert);
  return { cert: pems.cert, key: pems.private, source: 'generated', path: certPath };
}
