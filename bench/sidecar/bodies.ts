// The two response bodies the upstream serves: ~100 bytes at /small and 4 KiB at /4k.
export type BodyName = 'small' | '4k';

const fill = (n: number): string => 'trellis-bench-'.repeat(Math.ceil(n / 14)).slice(0, n - 1) + '\n';

export const BODIES: Record<BodyName, string> = { small: fill(100), '4k': fill(4096) };
export const BODY_NAMES: readonly BodyName[] = ['small', '4k'];
export const pathOf = (b: BodyName): string => `/${b}`;
