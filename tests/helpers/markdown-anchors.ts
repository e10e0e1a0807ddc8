// The anchors GitHub gives a Markdown file's headings (`## Runbook: consumer lag` -> `runbook-consumer-lag`): lower
// case, punctuation dropped (backticks and emphasis too, their text kept), spaces to hyphens, a repeated one suffixed
// `-1`, `-2`... Headings inside fenced code blocks are not headings.
export function readmeAnchors(markdown: string): string[] {
  const seen = new Map<string, number>();
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const slug = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.push(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}
