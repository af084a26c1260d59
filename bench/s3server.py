"""moto's S3 server in a process of its own, counting the requests it answers.

Run: ``python -m bench.s3server``; prints its URL on the first line, then serves until killed.
``GET /__bench__/count`` answers ``{"requests": N, "by": {"GET": .., "LIST": .., ...}}`` and
``GET /__bench__/count?reset=1`` also starts the count again; ``cpu`` is the seconds of CPU the server has
spent since the last reset (moto's own work: on 2 cores, a floor for anything that waits on it). Everything
else goes to moto.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import Any


def main() -> None:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    by: Counter[str] = Counter()
    since = [time.process_time()]

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/__bench__/count":
            with lock:
                body = json.dumps({"requests": sum(by.values()), "by": dict(by),
                                   "cpu": round(time.process_time() - since[0], 2)}).encode()
                if "reset" in environ.get("QUERY_STRING", ""):
                    by.clear()
                    since[0] = time.process_time()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        method = environ.get("REQUEST_METHOD", "")
        query = environ.get("QUERY_STRING", "")
        kind = "LIST" if method == "GET" and ("list-type" in query or "delimiter" in query or "prefix=" in query) \
            else method
        with lock:
            by[kind] += 1
        return moto_app(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
