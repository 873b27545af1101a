/** A small typed event emitter for the relay's handles: listeners can only name events that exist. */
import type { Listenable } from './api.js';

export class Emitter<Events extends Record<string, unknown[]>> implements Listenable<Events> {
  #listeners: { [K in keyof Events]?: Set<(...args: Events[K]) => void> } = {};

  /** Returns a function that removes the listener. */
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    (this.#listeners[event] ??= new Set()).add(listener);
    return () => this.#listeners[event]?.delete(listener);
  }

  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    const off = this.on(event, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }

  /**
   * Every listener runs even when one throws (a close must cascade to the end); the first error is
   * thrown afterwards, so a failing listener is not hidden.
   */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    let failure: { error: unknown } | undefined;
    for (const listener of [...(this.#listeners[event] ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}
