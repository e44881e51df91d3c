// Structured logs: one JSON object per line on stderr. Callers never pass secrets (tokens, PEM keys).
export type Logger = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

export function jsonLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (level, msg, fields) => {
    stream.write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => undefined;
