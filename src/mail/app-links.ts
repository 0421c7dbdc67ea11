/** Pages of the app the mail links open (the example app serves them at /app/...). */
export const APP_PAGES = {
  verifyEmail: "/verify-email",
  resetPassword: "/reset-password",
  forgotPassword: "/forgot-password",
} as const;

/**
 * Where links in mail point: APP_URL, or (unset, outside production) this server's own example
 * app at /app, known once the server listens.
 */
export class AppLinks {
  private serverBase: string | undefined;

  constructor(private readonly appUrl: string | undefined) {}

  /** The server's origin, once it listens; used when APP_URL is unset. */
  serverListening(origin: string): void {
    this.serverBase = `${origin}/app`;
  }

  base(): string {
    const base = this.appUrl ?? this.serverBase;
    if (!base) throw new Error("no APP_URL, and the server is not listening yet");
    return base;
  }

  withToken(page: keyof typeof APP_PAGES, token: string): string {
    return `${this.base()}${APP_PAGES[page]}?token=${encodeURIComponent(token)}`;
  }

  page(page: keyof typeof APP_PAGES): string {
    return `${this.base()}${APP_PAGES[page]}`;
  }
}
