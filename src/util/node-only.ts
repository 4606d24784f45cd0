/**
 * Imports a module that only works in Node (it pulls in `node:` modules) through a computed
 * specifier, so browser bundlers never follow it and the main entry stays browser-safe.
 * `rel` is resolved against the caller's `import.meta.url` (pass it as `base`), or is a bare
 * package name.
 */
export async function importNodeOnly<T>(rel: string, base?: string): Promise<T> {
  const specifier = base ? new URL(rel, base).href : rel;
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as T;
}
