/** An admin token for tests (RELAY_ADMIN_TOKEN needs 16+ characters). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface AdminAnswer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

/** Calls the admin API of one node: JSON in and out, the admin token unless told otherwise. */
export function adminApi(httpUrl: string, token: string | null = ADMIN_TOKEN) {
  return async (method: string, path: string, body?: unknown, raw?: string): Promise<AdminAnswer> => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${httpUrl}${path}`, {
      method,
      headers,
      ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { unparsed: text }; // the test that gets this fails on its shape, showing the text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

export type Api = ReturnType<typeof adminApi>;
