// The memhub websocket protocol (docs/protocol.md) for the page: hello with a ticket or a
// session token, request/reply by id, events, and reconnects with the session token.

export const PROTOCOL = 2;
const SESSION_KEY = "memhub.session";

export class ApiError extends Error {
  constructor(reply) {
    super(reply.message);
    this.code = reply.code;
    this.detail = reply.detail;
  }
}

// The ticket arrives in the URL fragment (never sent to the server); it is removed from the
// address bar and history at once. The session token lives in sessionStorage: this tab only.
export function takeCredential() {
  const params = new URLSearchParams(location.hash.slice(1));
  const ticket = params.get("ticket");
  if (ticket) {
    history.replaceState(null, "", location.pathname + location.search);
    return { kind: "ticket", token: ticket };
  }
  const session = sessionStorage.getItem(SESSION_KEY);
  return session ? { kind: "session", token: session } : null;
}

export class Api {
  constructor({ onEvent, onStatus }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.next = 1;
    this.pending = new Map();
    this.ws = null;
    this.welcome = null;
    this.stopped = false;
    this.retryDelay = 500;
  }

  // Resolves with the welcome, or rejects with an ApiError whose message says what to do.
  async connect(credential) {
    const welcome = await this._open(credential.token);
    if (welcome.session_token) sessionStorage.setItem(SESSION_KEY, welcome.session_token);
    return welcome;
  }

  _open(token) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/`);
      this.ws = ws;
      let welcomed = false;
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "hello", id: 0, protocol: PROTOCOL, token, client: "web-ui" }));
      };
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (!welcomed) {
          if (msg.type === "welcome") {
            welcomed = true;
            this.welcome = msg;
            this.retryDelay = 500;
            this.onStatus("connected");
            resolve(msg);
          } else {
            reject(new ApiError(msg.type === "error" ? msg : { code: "internal", message: "unexpected reply to hello" }));
          }
          return;
        }
        if (msg.type === "event") { this.onEvent(msg); return; }
        if (msg.id === null && msg.type === "error") { this.onStatus("error", msg.message); return; }
        const waiter = this.pending.get(msg.id);
        if (!waiter) return;
        this.pending.delete(msg.id);
        if (msg.type === "error") waiter.reject(new ApiError(msg));
        else waiter.resolve(msg);
      };
      ws.onclose = () => {
        for (const waiter of this.pending.values()) {
          waiter.reject(new ApiError({ code: "unavailable", message: "connection to the daemon lost" }));
        }
        this.pending.clear();
        if (!welcomed) {
          reject(new ApiError({ code: "unavailable", message: "cannot reach the memhub daemon; run `memhub ui` again" }));
          return;
        }
        this.onStatus("disconnected");
        this._reconnect();
      };
    });
  }

  async _reconnect() {
    if (this.stopped) return;
    const session = sessionStorage.getItem(SESSION_KEY);
    if (!session) { this.onStatus("error", "signed out: run `memhub ui` again"); return; }
    await new Promise((r) => setTimeout(r, this.retryDelay));
    this.retryDelay = Math.min(this.retryDelay * 2, 10000);
    try {
      await this._open(session);
      await this.call({ type: "subscribe" });
      this.onStatus("reconnected");
    } catch (err) {
      if (err.code === "unauthorized") {
        sessionStorage.removeItem(SESSION_KEY);
        this.onStatus("error", err.message);
      } else {
        this._reconnect();
      }
    }
  }

  call(msg) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new ApiError({ code: "unavailable", message: "not connected to the daemon" }));
        return;
      }
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }
}
