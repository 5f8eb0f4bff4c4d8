#!/usr/bin/env python
"""The least a request can cost on tornado's own HTTP server, the server the sandbox stands
on: one handler for every address and method, which reads the request and answers a short
JSON body. ``room_bench.py`` sends it as many requests as a room sends the sandbox, as many
at once, and reads its CPU: what HTTP itself costs a room, before any of the sandbox's work.

    python bench/http_floor.py      # serves until stopped; its first line says where (JSON)
"""

from __future__ import annotations

import asyncio
import json

import tornado.httpserver
import tornado.netutil
import tornado.web


class Floor(tornado.web.RequestHandler):
    def _answer(self, *_):
        self.write({"ok": True})

    get = post = _answer


async def main() -> None:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    tornado.httpserver.HTTPServer(tornado.web.Application([(r"/.*", Floor)])).add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print(json.dumps({"base_url": f"http://127.0.0.1:{port}"}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
