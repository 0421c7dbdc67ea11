import { isEmail } from "class-validator";
import { MAX_PASSWORD_BYTES } from "../auth/passwords";
import { badInput } from "../errors";

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const MAX_EMAIL_LENGTH = 254;
export const MIN_PASSWORD_LENGTH = 8;

export interface AccountFields {
  username: string;
  email: string;
  password: string;
}

/** The key that makes usernames unique regardless of letter case. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Checks a new account's fields and throws BAD_USER_INPUT naming the first field at fault.
 * Cheap checks only: nothing here touches the database or bcrypt.
 */
export function assertValidAccount(fields: AccountFields): void {
  if (!USERNAME_PATTERN.test(fields.username)) {
    throw badInput(
      "username",
      "Username must be 3 to 32 characters: letters, digits, underscore, dot or hyphen.",
    );
  }
  const email = normalizeEmail(fields.email);
  // Printable ASCII only (international domains in their xn-- form): no invisible, bidi or
  // look-alike characters that make one address pass for another.
  if (email.length > MAX_EMAIL_LENGTH || !/^[\x21-\x7e]+$/.test(email) || !isEmail(email)) {
    throw badInput("email", "Email must be a valid email address.");
  }
  if ([...fields.password].length < MIN_PASSWORD_LENGTH) {
    throw badInput("password", `Password must be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (Buffer.byteLength(fields.password, "utf8") > MAX_PASSWORD_BYTES) {
    // bcrypt ignores everything past 72 bytes; accepting more would make the tail meaningless.
    throw badInput("password", `Password must be at most ${MAX_PASSWORD_BYTES} bytes (UTF-8).`);
  }
}
