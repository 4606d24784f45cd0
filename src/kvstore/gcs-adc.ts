/**
 * Node only: Google Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * user credentials, or the metadata server) through google-auth-library. Imported lazily by
 * auth.ts when a store uses ADC; the library itself is imported lazily here too, so merely
 * importing this module costs nothing. This module knows nothing of auth.ts (auth.ts wraps the
 * token source it returns), so the two do not import each other.
 */
import { KvStoreError } from '../errors.js';

const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

/** Returns a current OAuth2 access token (without `Bearer `), or undefined. */
export type AdcTokenSource = () => Promise<string | undefined>;

let shared: Promise<AdcTokenSource> | undefined;

/**
 * One process-wide ADC token source. google-auth-library caches the access token and refreshes
 * it shortly before expiry, so calling it per request is cheap.
 * The source throws KvStoreError when no credentials can be obtained.
 */
export function adcTokenSource(): Promise<AdcTokenSource> {
  shared ??= (async () => {
    const { GoogleAuth } = await import('google-auth-library');
    const auth = new GoogleAuth({ scopes: [SCOPE] });
    return async () => {
      try {
        return (await auth.getAccessToken()) ?? undefined;
      } catch (e) {
        // The library's message can include file paths but never the token; keep it as cause.
        throw new KvStoreError('(gcs credentials)', 'could not obtain Application Default Credentials', { cause: e });
      }
    };
  })();
  shared.catch(() => (shared = undefined));
  return shared;
}
