/** A server time (ISO 8601) in the reader's locale and time zone. */
export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString();
}
