import type { Page } from "playwright-core";
import type { PageGlobals } from "./browser";

/** Fills the example app's sign-in form; `waitSignedIn` waits for the signed-in view. */
export async function submitSignin(page: Page, username: string, password: string): Promise<void> {
  const form = page.getByRole("form", { name: "Sign in" });
  await form.getByLabel("Username or email").fill(username);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Sign in" }).click();
}

export async function waitSignedIn(page: Page, username: string): Promise<void> {
  await page.getByTestId("username").getByText(username, { exact: true }).waitFor();
}

export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await submitSignin(page, username, password);
  await waitSignedIn(page, username);
}

/** The signed-out view: the sign-in form is back (with an alert when the app knows why). */
export async function waitSignedOut(page: Page): Promise<void> {
  await page.getByRole("form", { name: "Sign in" }).waitFor();
}

/** The cells of each row with this test id, once the table is on screen. */
export async function tableRows(page: Page, testId: string): Promise<string[][]> {
  await page.locator("table.listing").waitFor();
  const rows = page.getByTestId(testId);
  const count = await rows.count();
  return Promise.all(
    Array.from({ length: count }, (_, i) => rows.nth(i).locator("td").allTextContents()),
  );
}

/** Waits until exactly `count` rows with this test id are on screen, then reads their cells. */
export async function rowsWhenThereAre(
  page: Page,
  testId: string,
  count: number,
): Promise<string[][]> {
  await page.waitForFunction(
    ([id, n]) => {
      const { document } = globalThis as unknown as PageGlobals;
      return document.querySelectorAll(`[data-testid="${id}"]`).length === n;
    },
    [testId, count] as const,
  );
  return tableRows(page, testId);
}
