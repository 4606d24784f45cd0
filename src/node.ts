/**
 * `volstore/node`: the Node-only pieces (the local file store). The main entry already opens
 * `file://` URLs and local paths in Node; import this to use the store directly. The network
 * stores and the .npy helpers are re-exported here for convenience (they also live in the
 * main entry, which browsers can use).
 * @module volstore/node
 */
export { FileStore, type FileStoreOptions } from './kvstore/file.js';
export { GcsStore, type GcsStoreOptions } from './kvstore/gcs.js';
export { S3Store, type S3StoreOptions } from './kvstore/s3.js';
export { HttpStore, type HttpStoreOptions } from './kvstore/http.js';
export { AzureStore, type AzureStoreOptions, type AzureCredentials } from './kvstore/azure.js';
export { encodeNpy, decodeNpy } from './array/npy.js';
