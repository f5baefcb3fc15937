#!/usr/bin/env python3
"""A local HTTP server speaking the documented subset of the Confluent Schema Registry REST API
that roadpulse and the test clients use (no Confluent-compatible registry installs from the
package registries this project may use: karapace is not on PyPI, and Apicurio Registry's
application is on Maven Central only as the input jar of a Quarkus build, not runnable).

  POST /subjects/{subject}/versions      {"schema": "..."} -> {"id": N}; the same schema text
                                         gets the same id (ids are global, as in Confluent)
  GET  /schemas/ids/{id}                 -> {"schema": "..."}; 404 error_code 40403 if unknown
  GET  /subjects                         -> ["subject", ...]
  GET  /subjects/{subject}/versions/latest -> {"subject", "version", "id", "schema"}

Requests and answers use application/vnd.schemaregistry.v1+json. With --user USER:PASSWORD
every request needs that HTTP basic auth (401 otherwise). It does not check compatibility:
the evolution tests do that. Standard library only. Binds 127.0.0.1 on a free port and prints
the port as the only stdout line; --fail-after N answers 503 after N requests (outage tests);
--tls-cert FILE --tls-key FILE serve HTTPS with that certificate (PEM) instead of HTTP.
"""
import argparse
import base64
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MEDIA = "application/vnd.schemaregistry.v1+json"


class State:
    def __init__(self, user, fail_after):
        self.lock = threading.Lock()
        self.ids = {}  # schema text -> id
        self.schemas = {}  # id -> schema text
        self.subjects = {}  # subject -> [id, ...] (versions)
        self.auth = "Basic " + base64.b64encode(user.encode()).decode() if user else None
        self.requests = 0
        self.fail_after = fail_after


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("registry: " + fmt % args + "\n")

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.answer(status, {"error_code": code, "message": message})

    def allowed(self):
        st = self.server.state
        with st.lock:
            st.requests += 1
            if st.fail_after is not None and st.requests > st.fail_after:
                self.error(503, 50301, "registry unavailable (test outage)")
                return False
        if st.auth and self.headers.get("Authorization") != st.auth:
            self.error(401, 401, "Unauthorized")
            return False
        return True

    def do_GET(self):
        if not self.allowed():
            return
        st = self.server.state
        parts = [p for p in self.path.split("/") if p]
        with st.lock:
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                schema = st.schemas.get(int(parts[2]))
                if schema is None:
                    return self.error(404, 40403, f"Schema {parts[2]} not found")
                return self.answer(200, {"schema": schema})
            if parts == ["subjects"]:
                return self.answer(200, sorted(st.subjects))
            if len(parts) == 4 and parts[0] == "subjects" and parts[2:] == ["versions", "latest"]:
                versions = st.subjects.get(parts[1])
                if not versions:
                    return self.error(404, 40401, f"Subject '{parts[1]}' not found.")
                sid = versions[-1]
                return self.answer(200, {"subject": parts[1], "version": len(versions),
                                         "id": sid, "schema": st.schemas[sid]})
        self.error(404, 404, "HTTP 404 Not Found")

    def do_POST(self):
        if not self.allowed():
            return
        st = self.server.state
        parts = [p for p in self.path.split("/") if p]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            schema = body["schema"]
            json.loads(schema)
        except (ValueError, KeyError, TypeError):
            return self.error(422, 42201, "Invalid schema")
        if body.get("schemaType", "AVRO") != "AVRO":
            return self.error(422, 42202, "only AVRO here")
        if not (len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions"):
            return self.error(404, 404, "HTTP 404 Not Found")
        with st.lock:
            sid = st.ids.get(schema)
            if sid is None:
                sid = len(st.schemas) + 1
                st.ids[schema] = sid
                st.schemas[sid] = schema
            versions = st.subjects.setdefault(parts[1], [])
            if sid not in versions:
                versions.append(sid)
        self.answer(200, {"id": sid})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--user", help="require HTTP basic auth USER:PASSWORD")
    p.add_argument("--fail-after", type=int, help="answer 503 after this many requests")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = State(args.user, args.fail_after)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
