// The part of socket.io-client 4.8 (static/vendor/socket.io.esm.min.js) the front end uses.
// Hand-written so tsc never reads the minified bundle; widen it when a module needs more.

export type Listener = (...args: any[]) => void;

export interface SocketOptions {
  autoConnect?: boolean;
  transports?: string[];
  query?: Record<string, string>;
  auth?: Record<string, unknown> | ((cb: (data: Record<string, unknown>) => void) => void);
}

export interface Manager {
  on(event: string, listener: Listener): Manager;
  off(event?: string, listener?: Listener): Manager;
}

export interface Socket {
  readonly id: string | undefined;
  readonly connected: boolean;
  /** True while the socket is connected or will try to reconnect. */
  readonly active: boolean;
  readonly io: Manager;
  connect(): Socket;
  disconnect(): Socket;
  on(event: string, listener: Listener): Socket;
  once(event: string, listener: Listener): Socket;
  off(event?: string, listener?: Listener): Socket;
  emit(event: string, ...args: any[]): Socket;
  /** The next emit's ack callback gets an error first argument after `ms` without an answer. */
  timeout(ms: number): Socket;
}

export function io(options?: SocketOptions): Socket;
export function io(uri: string, options?: SocketOptions): Socket;
