// A page using @relay/sdk/react's useReplyStream: it asks its own backend (server.js) to send an
// event, then reads the answer through the backend's proxy of the relay's SSE stream. Bundled
// by server.js with esbuild; React and the SDK come from node_modules.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useReplyStream } from '@relay/sdk/react';

function Ask() {
  const [eventId, setEventId] = useState(null);
  const [question, setQuestion] = useState('Summarize this discussion');
  const { text, done, error, final } = useReplyStream(eventId ? `/reply/${eventId}` : null);

  async function ask() {
    const res = await fetch('/ask', { method: 'POST', body: JSON.stringify({ question }) });
    setEventId((await res.json()).event_id);
  }

  return (
    <main>
      <input id="question" value={question} onChange={(e) => setQuestion(e.target.value)} />
      <button id="ask" onClick={ask}>Ask</button>
      <p id="event">{eventId ?? ''}</p>
      <p id="answer">{text}</p>
      <p id="done">{done ? (error ? `error ${error.code ?? error.message}` : `done ${final.finish_reason}`) : ''}</p>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<Ask />);
