import { dictionary } from "@zxcvbn-ts/language-common";
// validator.js itself: class-validator, which wraps it, adds 3 MB of heap for this one check.
import isEmail from "validator/lib/isEmail";
import { MAX_PASSWORD_BYTES } from "../auth/passwords";
import { InputError } from "../errors";

/*
 * What a username, an email address and a password must be. Cheap checks only: nothing here
 * touches the database or bcrypt, so they run before any expensive work.
 */

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
 * NIST SP 800-63B 5.1.1.2: refuse passwords found in lists of commonly used or breached ones.
 * The list is zxcvbn-ts's ranked list of the ~49,000 most common passwords, compared without
 * regard to letter case ("Password1" is as guessable as "password1").
 */
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary["passwords-common"]);

/**
 * U+0000 ends a password inside bcrypt's C heritage: bcryptjs hashes "\0\0\0\0\0\0\0\0" like
 * "", so a password of NULs would sign in with an empty one. Other C0 controls are never typed
 * on purpose and hide in copy-paste; refusing them keeps every password printable.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** True for a password that bcrypt could not tell from another, shorter one. */
export function hasControlCharacters(password: string): boolean {
  return CONTROL_CHARACTER.test(password);
}

function isCommonPassword(password: string, context: readonly string[]): boolean {
  const lowered = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lowered)) return true;
  // One character repeated ("        ", "aaaaaaaa"): the first guess of any cracker.
  if (/^(.)\1*$/su.test(password)) return true;
  // The account's own names are the first thing an attacker who knows them tries.
  return context.some((word) => word.length >= 3 && lowered === word.toLowerCase());
}

export function assertValidUsername(username: string): void {
  if (!USERNAME_PATTERN.test(username)) {
    throw new InputError(
      "username",
      "Username must be 3 to 32 characters: letters, digits, underscore, dot or hyphen.",
    );
  }
}

export function assertValidEmail(email: string): void {
  const normalized = normalizeEmail(email);
  // Printable ASCII only (international domains in their xn-- form): no invisible, bidi or
  // look-alike characters that make one address pass for another. No quoted local part
  // ("root"@example.com): legal in RFC 5321, but one mailbox would get many spellings.
  if (
    normalized.length > MAX_EMAIL_LENGTH ||
    !/^[\x21-\x7e]+$/.test(normalized) ||
    normalized.includes('"') ||
    !isEmail(normalized)
  ) {
    throw new InputError("email", "Email must be a valid email address.");
  }
}

/** The rules a new password must meet, at signup and when it is changed or reset. */
export function assertValidPassword(password: string, context: readonly string[] = []): void {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new InputError(
      "password",
      `Password must be at least ${MIN_PASSWORD_LENGTH} characters.`,
    );
  }
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    // bcrypt ignores everything past 72 bytes; accepting more would make the tail meaningless.
    throw new InputError(
      "password",
      `Password must be at most ${MAX_PASSWORD_BYTES} bytes (UTF-8).`,
    );
  }
  if (hasControlCharacters(password)) {
    throw new InputError(
      "password",
      "Password must not contain control characters (such as NUL, tab or newline).",
    );
  }
  if (isCommonPassword(password, context)) {
    throw new InputError(
      "password",
      "This password is too common and would be guessed quickly. Choose a less predictable one.",
      "PASSWORD_TOO_COMMON",
    );
  }
}

/** Checks a new account's fields and throws an InputError naming the first field at fault. */
export function assertValidAccount(fields: AccountFields): void {
  assertValidUsername(fields.username);
  assertValidEmail(fields.email);
  assertValidPassword(fields.password, [
    fields.username,
    normalizeEmail(fields.email).split("@")[0] ?? "",
  ]);
}
