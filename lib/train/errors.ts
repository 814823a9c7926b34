/** An Error with a stable `code` and the ranks it concerns, like the collectives' errors. */
export function codedError(message: string, code: string, extra: { rank?: number; ranks?: number[] } = {}): Error {
  return Object.assign(new Error(message), { code }, extra);
}
