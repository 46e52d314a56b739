#!/usr/bin/env python3
"""A scripted model server for the model client tests: it speaks both Ollama's API (/api/chat,
/api/tags) and the OpenAI-compatible one (/v1/chat/completions, /v1/models), answers each chat
request with the next step of its script, and records every request it receives (method, path,
headers, JSON body) so that the tests assert what tars sent.

  model-server.py serve --port-file FILE --log FILE      listen on 127.0.0.1, a free port
  model-server.py load PORT SCRIPT                        load a script and clear the log

A script is a JSON object: {"models": [names], "steps": [step, ...], "then": step}.  Each chat
request takes the next step; when they are used up, "then" (default: a 500).  A step:

  {"answer": TEXT, "usage": [PROMPT, COMPLETION] or null, "chunks": N}
        a well-formed answer in the request's protocol, streamed in N pieces when the request
        asks for a stream; usage left out when null
  {"status": N, "headers": {...}, "body": JSON or TEXT}   any other response
  {"missing": true}        the protocol's "model not found" (Ollama's 404, OpenAI's
                           model_not_found)
  {"malformed": true}      a 200 whose JSON does not parse (in the stream or the body)
  {"truncate": true, "answer": TEXT}   half the answer, then the connection is closed
  {"echo_auth": true}      answers with the Authorization header it received (a hostile
                           server trying to get the key into what tars records)
  {"delay": SECONDS}       with any of the above: wait that long before the response
  {"stall": SECONDS}       with an answer: stream its first piece, wait that long between pieces
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"script": {"steps": [], "models": []}, "next": 0, "log": None}
LOCK = threading.Lock()


def record(handler, body_text):
    try:
        body = json.loads(body_text) if body_text else None
    except ValueError:
        body = None
    entry = {
        "time": time.monotonic(),
        "method": handler.command,
        "path": handler.path,
        "headers": {k.lower(): v for k, v in handler.headers.items()},
        "body": body,
        "raw": None if body is not None else body_text,
    }
    with LOCK:
        with open(STATE["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")


def next_step():
    with LOCK:
        steps = STATE["script"].get("steps", [])
        i = STATE["next"]
        STATE["next"] += 1
        if i < len(steps):
            return steps[i]
        return STATE["script"].get("then", {"status": 500, "body": {"error": "script used up"}})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def send_json(self, status, obj, headers=None):
        data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        record(self, "")
        models = STATE["script"].get("models", [])
        if self.path == "/api/tags":
            self.send_json(200, {"models": [{"name": m, "model": m} for m in models]})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        else:
            self.send_json(404, {"error": "no such path"})

    def do_POST(self):
        text = self.read_body()
        if self.path == "/__script":
            with LOCK:
                STATE["script"] = json.loads(text)
                STATE["next"] = 0
                open(STATE["log"], "w").close()
            self.send_json(200, {"ok": True})
            return
        record(self, text)
        try:
            req = json.loads(text)
        except ValueError:
            req = {}
        if self.path.endswith("/api/chat"):
            proto = "ollama"
        elif self.path.endswith("/chat/completions"):
            proto = "openai"
        else:
            self.send_json(404, {"error": "no such path"})
            return
        step = next_step()
        if step.get("delay"):
            time.sleep(step["delay"])
        try:
            self.respond(proto, req, step)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def respond(self, proto, req, step):
        model = req.get("model", "")
        stream = bool(req.get("stream"))
        if "status" in step:
            self.send_json(step["status"], step.get("body", {}), step.get("headers"))
            return
        if step.get("missing"):
            if proto == "ollama":
                self.send_json(404, {"error": 'model "%s" not found, try pulling it first' % model})
            else:
                self.send_json(404, {"error": {"message": "The model `%s` does not exist" % model,
                                               "type": "invalid_request_error",
                                               "code": "model_not_found"}})
            return
        if step.get("malformed"):
            if stream:
                self.start_stream("text/event-stream" if proto == "openai" else "application/x-ndjson")
                self.chunk("data: {\"choices\": [{\"delta\": {\"content\": \"x\"" if proto == "openai"
                           else "{\"message\": {\"content\": \"x\"\n")
                self.chunk("\n\n" if proto == "openai" else "")
                self.end_stream()
            else:
                self.send_json(200, "{\"choices\": [{\"message\": ")
            return
        answer = step.get("answer", "")
        if step.get("echo_auth"):
            answer = "you sent: " + self.headers.get("Authorization", "nothing")
        usage = step.get("usage", [7, len(answer.split())])
        if step.get("truncate"):
            answer = answer[: max(1, len(answer) // 2)]
        pieces = max(1, int(step.get("chunks", 3)))
        size = max(1, -(-len(answer) // pieces))
        parts = [answer[i:i + size] for i in range(0, len(answer), size)] or [""]
        self.stall = step.get("stall", 0)
        if proto == "openai":
            self.openai(req, model, stream, parts, usage, step.get("truncate"))
        else:
            self.ollama(model, stream, parts, usage, step.get("truncate"))

    def openai(self, req, model, stream, parts, usage, truncate):
        u = None if usage is None else {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                        "total_tokens": usage[0] + usage[1]}
        if not stream:
            body = {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                                 "finish_reason": "stop"}]}
            if u:
                body["usage"] = u
            if truncate:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_json(200, body)
            return
        self.start_stream("text/event-stream")
        for i, p in enumerate(parts):
            if i and self.stall:
                time.sleep(self.stall)
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            self.chunk("data: %s\n\n" % json.dumps(chunk))
        if truncate:
            self.close_connection = True
            return
        self.chunk("data: %s\n\n" % json.dumps({"id": "chatcmpl-1", "model": model, "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if u and (req.get("stream_options") or {}).get("include_usage"):
            self.chunk("data: %s\n\n" % json.dumps({"id": "chatcmpl-1", "model": model,
                                                   "choices": [], "usage": u}))
        self.chunk("data: [DONE]\n\n")
        self.end_stream()

    def ollama(self, model, stream, parts, usage, truncate):
        final = {"model": model, "created_at": "2025-01-01T00:00:00Z",
                 "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
        if usage is not None:
            final["prompt_eval_count"] = usage[0]
            final["eval_count"] = usage[1]
        if not stream:
            final["message"]["content"] = "".join(parts)
            if truncate:
                data = json.dumps(final).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_json(200, final)
            return
        self.start_stream("application/x-ndjson")
        for i, p in enumerate(parts):
            if i and self.stall:
                time.sleep(self.stall)
            self.chunk(json.dumps({"model": model, "created_at": "2025-01-01T00:00:00Z",
                                   "message": {"role": "assistant", "content": p}, "done": False}) + "\n")
        if truncate:
            self.close_connection = True
            return
        self.chunk(json.dumps(final) + "\n")
        self.end_stream()


def serve(port_file, log):
    STATE["log"] = log
    open(log, "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    server.serve_forever()


def load(port, script):
    import http.client
    with open(script) as f:
        data = f.read()
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    c.request("POST", "/__script", data, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    sys.exit(0 if r.status == 200 else 1)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "serve" and sys.argv[2] == "--port-file" and sys.argv[4] == "--log":
        serve(sys.argv[3], sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
