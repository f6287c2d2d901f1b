import { createServer, connect, type Server, type Socket } from 'node:net';

export interface LoadBalancer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A plain TCP load balancer on 127.0.0.1: each new connection goes to the next upstream port in
 * turn, with no stickiness, as a cloud load balancer in front of the nodes would do.
 */
export async function startLoadBalancer(upstreams: number[]): Promise<LoadBalancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    const port = upstreams[next++ % upstreams.length] as number;
    const upstream = connect(port, '127.0.0.1');
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    // A node that goes away ends its clients' connections, and the other way round.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
