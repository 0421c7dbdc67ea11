/** What came back from a hand-made request, as a client sees it. */
export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

export async function answerOf(response: Response): Promise<Answer> {
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

/** Signs of a leak: an HTML error page, a stack frame, a source path. */
export const LEAK =
  /<html|<!doctype|\n\s+at |\bat [\w.<>]+ \(|stacktrace|node_modules|[\\/]src[\\/]/i;

/** The answer's data, or a failure that shows what came back instead. */
export function dataOf(answer: Answer): Record<string, unknown> {
  let body: { data?: Record<string, unknown> | null; errors?: unknown[] } | undefined;
  try {
    body = JSON.parse(answer.text) as typeof body;
  } catch {
    body = undefined;
  }
  if (!body?.data || body.errors?.length) {
    throw new Error(`expected data, got ${answer.status}: ${answer.text.slice(0, 500)}`);
  }
  return body.data;
}
