/** The admin API's error codes, with the HTTP status each is answered with. */
export const AdminErrorCode = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_id: 400,
  invalid_query: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  already_exists: 409,
  registry_read_only: 409,
  body_too_large: 413,
  unavailable: 503,
} as const;
export type AdminErrorCode = keyof typeof AdminErrorCode;

/**
 * A refusal of the admin API: answered as `{"error": {"code", "message", "field"?}}` with the
 * code's HTTP status. `field` names the offending body field or path parameter.
 */
export class AdminError extends Error {
  readonly status: number;
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.status = AdminErrorCode[code];
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}) } };
  }
}
