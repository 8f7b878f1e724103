// Ids are decimal strings of 64-bit snowflakes: newer ids are larger. Compare them as
// numbers without losing precision (length first, then digits).
export function cmpId(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export const newer = (a: string | null | undefined, b: string | null | undefined) =>
  !!a && (!b || cmpId(a, b) > 0);
