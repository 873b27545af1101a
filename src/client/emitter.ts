/** A small typed event emitter for the browser: listeners can only name events that exist. */
export class Emitter<Events extends Record<string, unknown[]>> {
  #listeners: { [K in keyof Events]?: Set<(...args: Events[K]) => void> } = {};

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    (this.#listeners[event] ??= new Set()).add(listener);
    return () => this.#listeners[event]?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of this.#listeners[event] ?? []) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`lancast: "${String(event)}" listener failed`, err);
      }
    }
  }
}
