"""The Starlette app of ``lamin ui``: server-rendered pages and their JSON twins under ``/api/``.

Read-only: every route answers GET (and HEAD) only. Each page is rendered from the dict its
``/api/`` route returns (see :mod:`lamin_flows.ui.data`), so both show the same data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from lamin_flows.errors import LaminFlowsError
from lamin_flows.ui import data, files, graph

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["human"] = lambda size: data.human_size(size)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


templates.env.filters["duration"] = _duration


def _when(value: str | None) -> str:
    """``2026-12-02 16:43:38 UTC`` from the JSON form (people need no microseconds)."""
    if not value:
        return ""
    return value[:19].replace("T", " ") + " UTC"


templates.env.filters["when"] = _when


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    from lamin_flows.registry import instance

    context = {"instance": instance.current().config.name, "query": _params(request), **context}
    return templates.TemplateResponse(request, name, context, status_code=status)


def _missing(request: Request, what: str, record_id: str, api: bool) -> Response:
    message = f"no {what} with id {record_id!r} in this registry; it may have been deleted"
    if api:
        return JSONResponse({"error": message}, status_code=404)
    return _page(request, "error.html", {"message": message}, status=404)


def _with(request: Request, **changes: str | None) -> str:
    """The current URL with some query parameters changed (None removes one)."""
    params = _params(request)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return request.url.path + ("?" + urlencode(params) if params else "")


# ---- pages ---------------------------------------------------------------------------------
async def index(request: Request) -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse("/files")


def files_page(request: Request) -> Response:
    listing = data.files_list(_params(request))
    return _page(
        request, "files.html", {**listing, "choices": data.filter_choices(), "with_": lambda **c: _with(request, **c)}
    )


def _detail_page(request: Request, kind: str, detail_of: Any, template: str) -> Response:
    """The page of one record (``detail_of(id)``), or the "no such record" page."""
    detail = detail_of(request.path_params["id"])
    if detail is None:
        return _missing(request, kind, request.path_params["id"], api=False)
    return _page(request, template, detail)


def file_page(request: Request) -> Response:
    return _detail_page(request, "File", files.file_detail, "file.html")


def file_preview(request: Request) -> Response:
    file = files.find(request.path_params["id"])
    if file is None:
        return _missing(request, "File", request.path_params["id"], api=True)
    return JSONResponse(files.table_head(file))


def file_download(request: Request) -> Response:
    file = files.find(request.path_params["id"])
    if file is None:
        return _missing(request, "File", request.path_params["id"], api=False)
    disposition = "inline" if request.query_params.get("inline") else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{files.download_name(file)}"'}
    if file.size is not None:
        headers["Content-Length"] = str(file.size)
    return StreamingResponse(files.chunks_of(file), media_type=files.media_type(file), headers=headers)


def runs_page(request: Request) -> Response:
    listing = data.runs_list(_params(request))
    return _page(request, "runs.html", {**listing, "with_": lambda **c: _with(request, **c)})


def run_page(request: Request) -> Response:
    return _detail_page(request, "Run", data.run_detail, "run.html")


def transforms_page(request: Request) -> Response:
    return _page(request, "transforms.html", data.transforms_list())


def transform_page(request: Request) -> Response:
    return _detail_page(request, "Transform", data.transform_detail, "transform.html")


def labels_page(request: Request) -> Response:
    return _page(request, "labels.html", data.labels_list())


def _lineage(request: Request) -> tuple[Any, Any] | None:
    """The record whose lineage is asked for, and its laid-out graph (None: no such record)."""
    import lamin_flows as ln
    from lamin_flows.tracking.lineage_walk import lineage_of_file, lineage_of_run

    kind, record_id = request.path_params["kind"], request.path_params["id"]
    if kind not in ("file", "run"):
        return None
    downstream = request.query_params.get("downstream") in ("1", "true", "yes")
    registry = ln.File if kind == "file" else ln.Run
    record = registry.select(id=record_id).one_or_none()
    if record is None:
        return None
    walk = lineage_of_file if kind == "file" else lineage_of_run
    expand = {k for k in request.query_params.get("expand", "").split(",") if k}
    return record, graph.layout(walk(record, downstream=downstream), expand)


def lineage_page(request: Request) -> Response:
    found = _lineage(request)
    if found is None:
        return _missing(request, request.path_params["kind"].title(), request.path_params["id"], api=False)
    record, drawing = found
    expanded = [k for k in request.query_params.get("expand", "").split(",") if k]

    def expand_href(key: str) -> str:
        return _with(request, expand=",".join([*expanded, key]))

    kind = request.path_params["kind"]
    title = (record.key or record.name or record.id) if kind == "file" else f"run {record.id}"
    return _page(
        request,
        "lineage.html",
        {
            "kind": kind,
            "record": record,
            "title": title,
            "svg": graph.to_svg(drawing, expand_href),
            "drawing": drawing,
            "downstream": request.query_params.get("downstream") in ("1", "true", "yes"),
            "expanded": expanded,
            "with_": lambda **c: _with(request, **c),
        },
    )


# ---- JSON API --------------------------------------------------------------------------------
def api_files(request: Request) -> Response:
    return JSONResponse(data.files_list(_params(request)))


def api_file(request: Request) -> Response:
    detail = files.file_detail(request.path_params["id"])
    return JSONResponse(detail) if detail is not None else _missing(request, "File", request.path_params["id"], True)


def api_runs(request: Request) -> Response:
    return JSONResponse(data.runs_list(_params(request)))


def api_run(request: Request) -> Response:
    detail = data.run_detail(request.path_params["id"])
    return JSONResponse(detail) if detail is not None else _missing(request, "Run", request.path_params["id"], True)


def api_transforms(request: Request) -> Response:
    return JSONResponse(data.transforms_list())


def api_transform(request: Request) -> Response:
    detail = data.transform_detail(request.path_params["id"])
    return (
        JSONResponse(detail) if detail is not None else _missing(request, "Transform", request.path_params["id"], True)
    )


def api_labels(request: Request) -> Response:
    return JSONResponse(data.labels_list())


def api_lineage(request: Request) -> Response:
    found = _lineage(request)
    if found is None:
        return _missing(request, request.path_params["kind"].title(), request.path_params["id"], api=True)
    return JSONResponse(graph.as_json(found[1]))


async def _errors(request: Request, exc: Exception) -> Response:
    """A bad filter or cursor is the user's to fix: 400 with the message, as JSON or a page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return _page(request, "error.html", {"message": str(exc)}, status=400)


def create_app() -> Starlette:
    """The read-only web app over the current instance (``lamin ui`` serves it with uvicorn).

    Example:
        >>> import uvicorn
        >>> from lamin_flows.ui import create_app
        >>> uvicorn.run(create_app(), host="127.0.0.1", port=8765)
    """
    from lamin_flows.registry import instance

    instance.current()  # no instance: fail now, with the message saying how to make one
    kinds = "{kind:str}"
    routes = [
        Route("/", index),
        Route("/files", files_page),
        Route("/files/{id:str}", file_page),
        Route("/files/{id:str}/download", file_download),
        Route("/files/{id:str}/preview", file_preview),
        Route("/runs", runs_page),
        Route("/runs/{id:str}", run_page),
        Route("/transforms", transforms_page),
        Route("/transforms/{id:str}", transform_page),
        Route("/labels", labels_page),
        Route(f"/lineage/{kinds}/{{id:str}}", lineage_page),
        Route("/api/files", api_files),
        Route("/api/files/{id:str}", api_file),
        Route("/api/runs", api_runs),
        Route("/api/runs/{id:str}", api_run),
        Route("/api/transforms", api_transforms),
        Route("/api/transforms/{id:str}", api_transform),
        Route("/api/labels", api_labels),
        Route(f"/api/lineage/{kinds}/{{id:str}}", api_lineage),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(
        routes=routes, exception_handlers={LaminFlowsError: _errors}, middleware=[Middleware(ServerTiming)]
    )


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>``: the time until the response starts (the benchmark reads it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - start) * 1000:.1f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", took)]}
            await send(message)

        await self.app(scope, receive, timed_send)
