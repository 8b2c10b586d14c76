/** The HTTP status of a failed @kubernetes/client-node call (its ApiException carries `code`). */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message (metav1.Status.message) when there is one, else the error's. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  const m = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof m === 'string') return m;
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
