/**
 * A small seeded generator (mulberry32), so that a randomised test replays exactly from its seed.
 * Not for anything but tests.
 */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  /** An integer from `min` to `max`, both included. */
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T;
  const chance = (probability: number): boolean => next() < probability;
  /** One of `choices`, each as likely as its weight. */
  const weighted = <T>(choices: readonly (readonly [number, T])[]): T => {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = next() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (choices.at(-1) as readonly [number, T])[1];
  };
  return { next, int, pick, chance, weighted };
}

export type Random = ReturnType<typeof seededRandom>;
