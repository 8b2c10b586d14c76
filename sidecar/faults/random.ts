/** A small seeded PRNG (mulberry32): a rule with `seed` makes the same choices on every run. */
export type Random = () => number;

export function seededRandom(seed: number = Math.floor(Math.random() * 2 ** 32)): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
