// Seed 000's Node agent, on @relay/sdk: answers each event one character per token, then replies.
const { createAgentClient } = require('@relay/sdk');
const agent = createAgentClient({ url: process.env.RELAY_URL, token: process.env.RELAY_TOKEN });
const interval = Number(process.env.SEED_TOKEN_INTERVAL_MS || 50);
agent.opened().then(() => console.log('Agent connected to Relay\n'));
agent.onEvent(async (event, reply) => {
  const { task_title, comments = [] } = event.payload;
  console.log(`← Event received: ${event.event_id}\n  Task: ${task_title}\n`);
  const response = `This discussion covers the main topics: ${comments.length} comments discussing priorities.`;
  for (const char of response) {
    reply.token(char);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  console.log(`→ Reply sent (${response.length} chars)\n`);
  return reply.done(response);
});
