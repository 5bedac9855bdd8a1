// Responses the sidecar writes itself for redirect and direct_response routes (not failures:
// those go through rescue.ts).
const REASON: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A complete HTTP/1.1 response; `location` must already be a valid field value (the router builds it). */
export function localResponse(status: number, body: string, location: string | null, close: boolean): Buffer {
  const b = Buffer.from(body, 'utf8');
  let s = `HTTP/1.1 ${status} ${REASON[status] ?? 'Status'}\r\n`;
  if (location !== null) s += `location: ${location.replace(/[\r\n\0]/g, '')}\r\n`;
  if (b.length > 0) s += 'content-type: text/plain; charset=utf-8\r\n';
  if (status !== 204 && status >= 200) s += `content-length: ${b.length}\r\n`;
  if (close) s += 'connection: close\r\n';
  const head = Buffer.from(`${s}\r\n`, 'latin1');
  return b.length === 0 || status === 204 || status === 304 ? head : Buffer.concat([head, b]);
}
