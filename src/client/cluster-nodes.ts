/**
 * The other nodes of this lancast's cluster (`/api/cluster`), as the /ws URLs a page reconnects
 * to when its own node goes away. A lancast running alone answers 404 and is asked once.
 */
interface ClusterInfo {
  node: string;
  nodes: { id: string; url: string; viewers: number; holds?: string[] }[];
}

/**
 * Nodes that already have `room`'s stream first (a page moving there plays without waiting for a
 * pull), then the least loaded. Kept fresh every few seconds while the page's node answers; the
 * last list when it does not.
 */
export function clusterAlternates(room: string): () => string[] {
  let urls: string[] = [];
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const refresh = async (): Promise<boolean> => {
    try {
      const res = await fetch('/api/cluster', { cache: 'no-store' });
      if (!res.ok) return false;
      const info = (await res.json()) as ClusterInfo;
      urls = info.nodes
        .filter((n) => n.id !== info.node)
        .sort((a, b) => Number(b.holds?.includes(room) ?? false) - Number(a.holds?.includes(room) ?? false) || a.viewers - b.viewers)
        // The same port serves https: a page on https keeps to it.
        .map((n) => `${scheme}//${new URL(n.url).host}/ws`);
      return true;
    } catch {
      return true; // the node is away for now: keep the last list
    }
  };
  void refresh().then((cluster) => {
    if (cluster) setInterval(() => void refresh(), 5_000);
  });
  return () => urls;
}
