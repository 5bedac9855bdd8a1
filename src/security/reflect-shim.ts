// @peculiar/x509 resolves its algorithm providers with tsyringe, which refuses to load unless a
// Reflect metadata API exists. It only reads "design:paramtypes" (never set here: x509 is plain JS)
// and its own injection-token map, so this small WeakMap-backed subset is enough, and spares a
// dependency. It installs nothing when a full polyfill (reflect-metadata, core-js) is already there.

type MetaTarget = object;
const store = new WeakMap<MetaTarget, Map<unknown, unknown>>();

function own(key: unknown, target: MetaTarget): unknown {
  return store.get(target)?.get(key);
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  R.defineMetadata = (key: unknown, value: unknown, target: MetaTarget): void => {
    let m = store.get(target);
    if (!m) store.set(target, (m = new Map()));
    m.set(key, value);
  };
  R.getOwnMetadata = (key: unknown, target: MetaTarget): unknown => own(key, target);
  R.hasOwnMetadata = (key: unknown, target: MetaTarget): boolean => store.get(target)?.has(key) ?? false;
  R.getMetadata = (key: unknown, target: MetaTarget): unknown => {
    for (let t: MetaTarget | null = target; t; t = Object.getPrototypeOf(t) as MetaTarget | null) {
      const m = store.get(t);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  R.hasMetadata = (key: unknown, target: MetaTarget): boolean =>
    (R.getMetadata as typeof own)(key, target) !== undefined;
}

export {};
