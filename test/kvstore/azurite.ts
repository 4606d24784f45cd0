/**
 * Azurite (Microsoft's Azure Storage emulator, npm `azurite`) for the Azure store tests: the
 * blob service started in this process on 127.0.0.1 with a random free port and in-memory
 * persistence, with the emulator's well-known account. `stop()` closes it (and its sockets).
 * With `tls`, it serves HTTPS (needed for Bearer tokens, which Azurite refuses over HTTP) and
 * `oauth: 'basic'` checks their lifetime, issuer and audience (not the signature).
 */
import { createRequire } from 'node:module';
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY } from '../../src/kvstore/azure-auth.js';

const require = createRequire(import.meta.url);

export interface Azurite {
  /** `http(s)://127.0.0.1:PORT` */
  url: string;
  /** `${url}/devstoreaccount1`: the blob endpoint (path-style, as a connection string's BlobEndpoint). */
  blobEndpoint: string;
  account: string;
  accountKey: string;
  /** A connection string with AccountName, AccountKey and BlobEndpoint for this instance. */
  connectionString: string;
  stop(): Promise<void>;
}

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}

export async function startAzurite(opts: { tls?: { cert: string; key: string }; oauth?: 'basic' } = {}): Promise<Azurite> {
  const BlobServer = require('azurite/dist/src/blob/BlobServer.js').default as new (cfg: unknown) => AzuriteServer;
  const BlobConfiguration = require('azurite/dist/src/blob/BlobConfiguration.js').default as new (...a: unknown[]) => unknown;
  const { MemoryExtentChunkStore } = require('azurite/dist/src/common/persistence/MemoryExtentStore.js') as {
    MemoryExtentChunkStore: new (limit?: number) => unknown;
  };
  // (host, port, keepAlive, metadataDB, extentDB, persistence, accessLog, accessLogStream,
  //  debugLog, debugLogPath, loose, skipApiVersionCheck, cert, key, pwd, oauth,
  //  disableProductStyleUrl, isMemoryPersistence, memoryStore)
  const cfg = new BlobConfiguration(
    '127.0.0.1',
    0,
    undefined,
    undefined,
    undefined,
    undefined,
    false,
    undefined,
    false,
    undefined,
    false,
    true,
    opts.tls?.cert ?? '',
    opts.tls?.key ?? '',
    '',
    opts.oauth,
    false,
    true,
    new MemoryExtentChunkStore(),
  );
  const server = new BlobServer(cfg);
  await server.start();
  const url = server.getHttpServerAddress();
  const blobEndpoint = `${url}/${AZURITE_ACCOUNT}`;
  return {
    url,
    blobEndpoint,
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_ACCOUNT_KEY,
    connectionString: `DefaultEndpointsProtocol=${url.split(':')[0]};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      await server.close();
      await server.clean();
    },
  };
}
