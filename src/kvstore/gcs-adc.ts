/**
 * Node only: Google Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * user credentials, or the metadata server) through google-auth-library. Imported lazily by
 * auth.ts when a store is configured with `auth: 'adc'`; the library itself is imported lazily
 * here too, so merely importing this module costs nothing.
 */
import { KvStoreError } from '../errors.js';
import type { AuthProvider } from './auth.js';

const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

let shared: Promise<AuthProvider> | undefined;

/**
 * One process-wide ADC provider. google-auth-library caches the access token and refreshes it
 * shortly before expiry, so calling `authorization()` per request is cheap.
 */
export function adcAuthProvider(): Promise<AuthProvider> {
  shared ??= (async () => {
    const { GoogleAuth } = await import('google-auth-library');
    const auth = new GoogleAuth({ scopes: [SCOPE] });
    return {
      kind: 'adc',
      async authorization() {
        let token: string | null | undefined;
        try {
          token = await auth.getAccessToken();
        } catch (e) {
          // The library's message can include file paths but never the token; keep it as cause.
          throw new KvStoreError('(gcs credentials)', 'could not obtain Application Default Credentials', { cause: e });
        }
        return token ? `Bearer ${token}` : undefined;
      },
    } satisfies AuthProvider;
  })();
  shared.catch(() => (shared = undefined));
  return shared;
}
