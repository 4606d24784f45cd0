/**
 * Credentials for the HTTP-backed stores, browser-safe. A store holds an {@link AuthProvider}
 * and asks it for an `Authorization` header value per request attempt; the HTTP layer adds it
 * only to requests aimed at the store's own endpoint origin (see http/client.ts), so a token
 * never travels to another host, and it is never put into errors, logs or `spec()`.
 */
import { importNodeOnly } from '../util/node-only.js';

/** Returns an access token (without the `Bearer ` prefix), or undefined for anonymous. */
export type TokenProvider = (signal?: AbortSignal) => Promise<string | undefined> | string | undefined;

/**
 * How a store authenticates:
 * - `'anonymous'`: no `Authorization` header (public buckets, emulators);
 * - `{ bearerToken }`: a fixed OAuth2 access token;
 * - `{ getToken }` or a bare function: called per request (cache inside it; it may refresh);
 * - `'adc'` (Node only): Google Application Default Credentials, loaded lazily.
 */
export type AuthOption = 'anonymous' | 'adc' | { bearerToken: string } | { getToken: TokenProvider } | TokenProvider;

export interface AuthProvider {
  /** The `Authorization` header value, or undefined to send none. */
  authorization(signal?: AbortSignal): Promise<string | undefined>;
  /** For messages: 'anonymous' | 'bearer' | 'provider' | 'adc'. Never the token itself. */
  readonly kind: string;
}

export const ANONYMOUS: AuthProvider = Object.freeze({
  kind: 'anonymous',
  authorization: async () => undefined,
});

/** A provider around a token callback. */
export function tokenProvider(getToken: TokenProvider, kind = 'provider'): AuthProvider {
  return {
    kind,
    async authorization(signal?: AbortSignal) {
      const t = await getToken(signal);
      return t ? `Bearer ${t}` : undefined;
    },
  };
}

/** ADC as a provider; `./gcs-adc.js` (and google-auth-library) load on first use only. */
async function loadAdc(): Promise<AuthProvider> {
  const m = await importNodeOnly<typeof import('./gcs-adc.js')>('./gcs-adc.js', import.meta.url);
  return tokenProvider(await m.adcTokenSource(), 'adc');
}

/**
 * Turns an {@link AuthOption} into a provider. `'adc'` imports `./gcs-adc.js` (and through it
 * google-auth-library) on first use only, so browser bundles that never ask for ADC never
 * execute Node code.
 */
export function resolveAuth(option: AuthOption | undefined): AuthProvider {
  if (option === undefined || option === 'anonymous') return ANONYMOUS;
  if (option === 'adc') {
    let inner: Promise<AuthProvider> | undefined;
    return {
      kind: 'adc',
      async authorization(signal?: AbortSignal) {
        inner ??= loadAdc();
        // A failed load (no credentials configured) is retried on the next request.
        inner.catch(() => (inner = undefined));
        return (await inner).authorization(signal);
      },
    };
  }
  if (typeof option === 'function') return tokenProvider(option);
  if ('bearerToken' in option) {
    const header = `Bearer ${option.bearerToken}`;
    return { kind: 'bearer', authorization: async () => header };
  }
  if ('getToken' in option) return tokenProvider(option.getToken);
  throw new TypeError('invalid auth option');
}

/**
 * The GCS default outside emulators: Application Default Credentials when the environment has
 * them (Node), otherwise anonymous, so public buckets work without configuration. In browsers
 * (no `process`) this is anonymous without trying.
 */
export function adcOrAnonymous(): AuthProvider {
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (!isNode) return ANONYMOUS;
  let inner: Promise<AuthProvider> | undefined;
  return {
    kind: 'adc-or-anonymous',
    async authorization(signal?: AbortSignal) {
      inner ??= loadAdc()
        .then(async (p) => {
          await p.authorization(signal); // probe once: no credentials -> anonymous
          return p;
        })
        .catch(() => ANONYMOUS);
      return (await inner).authorization(signal);
    },
  };
}
