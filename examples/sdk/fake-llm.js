// The event handler both example agents run (agent.js over a socket, http-agent.js over HTTP):
// one code path, so the two examples show the same handler behind two transports.
'use strict';

/** A stand-in for a model: the answer, word by word, `wordMs` apart, until the signal fires. */
async function* fakeLlm(prompt, signal, wordMs) {
  const answer = `Here is what I make of "${prompt}": the team agreed to ship mobile first, ` +
    'to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops.';
  for (const word of answer.split(/(?<= )/)) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, wordMs);
      signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true });
    });
    if (signal.aborted) return;
    yield word;
  }
}

/** An `(event, reply)` handler that streams fakeLlm's answer to the event's message. */
function fakeLlmHandler(wordMs) {
  return async (event, reply) => {
    const prompt = typeof event.payload?.message === 'string' ? event.payload.message : JSON.stringify(event.payload);
    let text = '';
    for await (const word of fakeLlm(prompt, reply.signal, wordMs)) {
      reply.token(word);
      text += word;
    }
    if (reply.signal.aborted) return console.log(`${event.event_id} cancelled: stopped after ${text.length} chars`);
    console.log(`${event.event_id} attempt ${event.attempt} from ${event.app_id} answered (${text.length} chars)`);
    return reply.done(text, { metadata: { model: 'fake-llm' } });
  };
}

module.exports = { fakeLlmHandler };
