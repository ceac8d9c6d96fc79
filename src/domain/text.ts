// Text from outside parties (MCP servers, droplet agents) is kept and returned in bounded lengths.

/** `text` cut to `max` characters, marked as cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
