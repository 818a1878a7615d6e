// A page loaded on first visit (React.lazy) that can also be loaded ahead of time. Once its
// module is in, rendering it does not suspend: React would otherwise show the fallback and then
// hold the page back (it throttles revealing suspended content by a few hundred milliseconds).
import { lazy, type ComponentType } from "react";

export interface LazyPage<P> {
  Page: ComponentType<P>;
  /** Start loading the module now (once); rendering the page later finds it loaded. */
  preload: () => Promise<unknown>;
}

export function lazyPage<P>(load: () => Promise<ComponentType<P>>): LazyPage<P> {
  let loaded: { default: ComponentType<P> } | undefined;
  let loading: Promise<{ default: ComponentType<P> }> | undefined;
  const preload = () => (loading ??= load().then((component) => (loaded = { default: component })));
  // React.lazy takes any thenable: one that answers at once when the module is in does not suspend.
  const Page = lazy(() =>
    loaded ? ({ then: (resolve: (m: { default: ComponentType<P> }) => void) => resolve(loaded!) } as Promise<{ default: ComponentType<P> }>) : preload(),
  );
  return { Page: Page as unknown as ComponentType<P>, preload };
}
