/**
 * `volstore/node`: the Node-only pieces (local file store, Application Default Credentials for
 * GCS). The main entry already opens `file://` URLs in Node; import this for direct use.
 */
export { FileStore, type FileStoreOptions } from './kvstore/file.js';
export { GcsStore, type GcsStoreOptions } from './kvstore/gcs.js';
export { S3Store, type S3StoreOptions } from './kvstore/s3.js';
export { HttpStore, type HttpStoreOptions } from './kvstore/http.js';
export { AzureStore, type AzureStoreOptions, type AzureCredentials } from './kvstore/azure.js';
export { encodeNpy, decodeNpy } from './array/npy.js';
export { main as cli } from './cli/main.js';
