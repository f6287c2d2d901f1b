/** One streamed piece of an answer, as the app receives it. */
export interface StreamedToken {
  text: string;
  /**
   * Counts from 0 per delivery (`attempt`). The client resumes the stream on every reconnect,
   * so each token of a delivery comes once, in order, with no gap.
   */
  seq: number;
  /**
   * The delivery, from 1. A token with a greater `attempt` than the one before (its `seq` is 0)
   * means the agent started the answer over (the event was redelivered): drop the partial text
   * shown so far. The final reply always carries the whole answer.
   */
  attempt: number;
}

/**
 * The tokens of one event. Every iterator starts from the first token, so iterating late or
 * twice loses nothing; iteration ends when the event's final frame (reply or error) arrives.
 */
export class TokenStream implements AsyncIterable<StreamedToken> {
  private readonly tokens: StreamedToken[] = [];
  private ended = false;
  private wakers: (() => void)[] = [];

  push(token: StreamedToken): void {
    if (this.ended) return;
    this.tokens.push(token);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The text of the tokens since the last restart (seq 0), in order. */
  text(): string {
    let start = 0;
    this.tokens.forEach((t, i) => {
      if (t.seq === 0) start = i;
    });
    return this.tokens.slice(start).map((t) => t.text).join('');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamedToken> {
    let i = 0;
    for (;;) {
      while (i < this.tokens.length) yield this.tokens[i++] as StreamedToken;
      if (this.ended) return;
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }
}
