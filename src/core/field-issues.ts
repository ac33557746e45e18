import type { z } from 'zod';

/** One bad field in a request, as every 400 answer lists them. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * zod's issues as `{path, message}`. An unknown key is reported at its own
 * path (`device.colour`), not at its parent object, so the client sees which
 * field to remove.
 */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => {
    const keys = i.code === 'unrecognized_keys' ? i.keys : [];
    const path = [...i.path, ...(keys.length === 1 ? keys : [])].map(String).join('.');
    return { path: path || '(body)', message: i.message };
  });
}
