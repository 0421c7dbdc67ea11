import bcrypt from "bcryptjs";

/** bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut. */
export const MAX_PASSWORD_BYTES = 72;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  compare(password: string, hash: string): Promise<boolean>;
  /**
   * Runs a comparison against a throwaway hash of the same cost, so a signin for an unknown
   * user takes as long as one with a wrong password and the timing tells nothing.
   */
  compareWithDummy(password: string): Promise<false>;
}

export function createPasswordHasher(rounds: number): PasswordHasher {
  // Made once, up front and in the background, so even the first unknown-user signin costs
  // exactly one comparison.
  const dummyHash = bcrypt.hash("not-a-real-password", rounds);
  dummyHash.catch(() => undefined);

  return {
    hash: (password) => bcrypt.hash(password, rounds),
    compare: (password, hash) => bcrypt.compare(password, hash),
    async compareWithDummy(password) {
      await bcrypt.compare(password, await dummyHash);
      return false;
    },
  };
}
