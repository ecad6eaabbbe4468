"""The explorer's web server: a Starlette app, one endpoint per view, run by uvicorn.

Pictures are PNG, everything else JSON; an error is JSON too, {"error": message}, with 400
for bad input, 404 for an unknown image, layer, unit or class, 413 for an upload over 10 MB
and 500 for a failure of our own, after which the server goes on serving.

    GET  /                                          the page (static/index.html)
    GET  /static/<file>                             its CSS and JavaScript, nothing else
    GET  /api/info                                  model, classes, layers, methods, cascade
    GET  /api/images?class=cat&start=0&count=48     test image indices (of a class)
    GET  /api/random?class=cat                      a random test image's index
    POST /api/upload                                an image file (body or multipart) -> key
    GET  /api/image/{source}/{id}.png               the image, 32x32
    GET  /api/predict/{source}/{id}                 class probabilities
    GET  /api/activations/{source}/{id}/{layer}     one layer's output (float32, base64)
    GET  /api/unit/{layer}/{channel}                its top-9 images and where they peak
    GET  /api/unit/{layer}/{channel}/{what}.png     what: top9, guided, deconv, weights
    GET  /api/unit/{layer}/{channel}/value/{source}/{id}    its value on one image
    GET  /api/explain/{source}/{id}/{method}[.png]  ?target=&rule=&randomized=&render=&layer=
    GET  /api/occlude/{source}/{id}?target=&y=&x=&size=     p(class) with the square there
    GET  /api/sanity/{source}/{id}?method=&target=  similarity along the randomisation
    GET  /api/classmodel?target=&steps=&l2=&blur=&jitter=&clip_norm=   server-sent events
    GET  /api/classmodel.png?...                    the same ascent's last picture

The numpy work is CPU-bound, so every handler that computes is a plain function, which
Starlette runs in its thread pool; two tabs' requests run side by side and, since each
chooses its backward rule for itself, never see each other's (see explorer.py).
"""
import base64
import functools
import json
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from minicnn.explore.data import MAX_UPLOAD, UploadError, png_bytes
from minicnn.explore.explorer import CLASS_MODEL_RANGES, METHODS, RULES, NotFound

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("minicnn.explore")


def create_app(explorer, allowed_hosts=None):
    """The ASGI app serving `explorer` (an Explorer).

    allowed_hosts: Host headers to answer (e.g. ["127.0.0.1", "localhost"] on loopback, which
    stops a web page from reaching the server through DNS rebinding); None answers any.
    """
    ex = explorer
    explain = functools.lru_cache(maxsize=256)(ex.explain)     # the JSON and the PNG share one run

    def image_ref(request):
        return request.path_params["source"], request.path_params["id"]

    def info(request):
        return JSONResponse({
            "model": ex.name, "classes": list(ex.classes), "images": len(ex.images),
            "per_class": [int((ex.labels == k).sum()) for k in range(len(ex.classes))],
            "layers": ex.layer_info(), "methods": list(METHODS), "rules": list(RULES),
            "cascade": ex.cascade, "k": int(ex.index[ex.layers[0]].index.shape[1]),
            "class_model": {key: [lo, hi] for key, (lo, hi) in CLASS_MODEL_RANGES.items()},
            "max_upload": MAX_UPLOAD,
        })

    def images(request):
        q = request.query_params
        indices, total = ex.test_indices(q.get("class"), start=_int(q, "start", 0, 0),
                                         count=_int(q, "count", 48, 0, 1000))
        return JSONResponse({"indices": indices, "total": total})

    def random(request):
        q = request.query_params
        seed = _int(q, "seed", None) if q.get("seed") else None
        return JSONResponse({"index": ex.random_index(q.get("class"), seed)})

    def image(request):
        return png_response(ex.pixels(*image_ref(request)).transpose(1, 2, 0))

    async def upload(request):
        body = await read_limited(request, MAX_UPLOAD)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body = await first_file(request, body)
        key = await run_in_threadpool(ex.add_upload, body)
        return JSONResponse({"source": "upload", "id": key})

    def predict(request):
        source, id = image_ref(request)
        p = ex.probabilities(source, id)
        return JSONResponse({"probabilities": [float(v) for v in p], "classes": list(ex.classes),
                             "predicted": ex.classes[int(p.argmax())],
                             "label": ex.label(source, id)})

    def activations(request):
        layer = request.path_params["layer"]
        ex.check_unit(layer, 0)
        a = ex.activations(*image_ref(request))[layer]                 # (C, H, W) float32
        return JSONResponse({"layer": layer, "shape": list(a.shape), "min": float(a.min()),
                             "max": float(a.max()), "dtype": "float32 little-endian",
                             "data": base64.b64encode(a.astype("<f4").tobytes()).decode()})

    def unit(request):
        layer, c = unit_ref(request)
        return JSONResponse({"layer": layer, "channel": c, "top": ex.unit_top(layer, c),
                             "has_weights": ex.weights_layer(layer)})

    def unit_picture(request):
        layer, c = unit_ref(request)
        what = request.path_params["what"]
        if what == "top9":
            return png_response(ex.unit_crops(layer, c))
        if what in ("guided", "deconv"):
            return png_response(ex.unit_reconstructions(layer, c, what))
        if what == "weights":
            return png_response(ex.unit_weights(layer, c))
        raise NotFound(f"unknown unit picture {what!r}; choose top9, guided, deconv or weights")

    def unit_value(request):
        layer, c = unit_ref(request)
        return JSONResponse(ex.unit_value(layer, c, *image_ref(request)))

    def unit_ref(request):
        layer = request.path_params["layer"]
        return layer, ex.check_unit(layer, request.path_params["channel"])

    def explain_args(request):
        q, (source, id) = request.query_params, image_ref(request)
        target = ex.parse_target(q.get("target"), source, id)
        options = dict(rule=q.get("rule", "normal"), randomized=q.get("randomized") or None,
                       render=q.get("render") or None, layer=q.get("layer") or None,
                       n=_int(q, "n", 25, 1, 200), noise=_float(q, "noise", 0.15, 0.0, 1.0),
                       size=_int(q, "size", 8, 1, 32), stride=_int(q, "stride", 2, 1, 32))
        if options["layer"] is not None:
            ex.check_unit(options["layer"], 0)
        return source, id, request.path_params["method"], target, options

    def explain_json(request):
        source, id, method, target, options = explain_args(request)
        _, numbers = explain(source, id, method, target, **options)
        score = ex.score(source, id, target, options["randomized"])
        return JSONResponse({"method": method, "target": _target_json(ex, target),
                             **numbers, "score": score})

    def explain_png(request):
        source, id, method, target, options = explain_args(request)
        picture, _ = explain(source, id, method, target, **options)
        return png_response(picture)

    def occlude(request):
        q, (source, id) = request.query_params, image_ref(request)
        target = ex.parse_target(q.get("target"), source, id)
        size = _int(q, "size", 8, 1, 32)
        return JSONResponse(ex.occlude(source, id, target, _int(q, "y", 0), _int(q, "x", 0),
                                       size, q.get("randomized") or None))

    def sanity(request):
        q, (source, id) = request.query_params, image_ref(request)
        target = ex.parse_target(q.get("target"), source, id)
        return JSONResponse(ex.sanity(source, id, q.get("method", "guided"), target))

    def class_model_args(request):
        q = request.query_params
        target = ex.parse_target(q.get("target") or "0")
        return target, ex.class_model_options(q), _int(q, "seed", 0, 0)

    @functools.lru_cache(maxsize=64)
    def class_model_last(target, options, seed):
        for snapshot in ex.class_model_snapshots(target, dict(options), seed):
            pass
        return snapshot

    def class_model_png(request):
        target, options, seed = class_model_args(request)
        return png_response(class_model_last(target, tuple(sorted(options.items())), seed)["rgb"])

    async def class_model_stream(request):
        target, options, seed = await run_in_threadpool(class_model_args, request)
        snapshots = ex.class_model_snapshots(target, options, seed)

        async def events():
            while (snapshot := await run_in_threadpool(next, snapshots, None)) is not None:
                rgb = snapshot.pop("rgb")
                snapshot["png"] = "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode()
                yield f"data: {json.dumps(snapshot)}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    def page(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    image_path = "/{source}/{id}"
    routes = [
        Route("/", page),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/api/info", info),
        Route("/api/images", images),
        Route("/api/random", random),
        Route("/api/upload", upload, methods=["POST"]),
        Route(f"/api/image{image_path}.png", image),
        Route(f"/api/predict{image_path}", predict),
        Route(f"/api/activations{image_path}/{{layer}}", activations),
        Route("/api/unit/{layer}/{channel}", unit),
        Route("/api/unit/{layer}/{channel}/{what}.png", unit_picture),
        Route(f"/api/unit/{{layer}}/{{channel}}/value{image_path}", unit_value),
        Route(f"/api/explain{image_path}/{{method}}.png", explain_png),
        Route(f"/api/explain{image_path}/{{method}}", explain_json),
        Route(f"/api/occlude{image_path}", occlude),
        Route(f"/api/sanity{image_path}", sanity),
        Route("/api/classmodel.png", class_model_png),
        Route("/api/classmodel", class_model_stream),
    ]
    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    handlers = {NotFound: error_response(404), ValueError: error_response(400),
                HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


def png_response(rgb):
    return Response(png_bytes(rgb), media_type="image/png", headers={"Cache-Control": "no-cache"})


def error_response(status):
    """An exception handler answering {"error": the exception's message} with `status`."""
    async def handler(request, error):
        message = error.args[0] if error.args else type(error).__name__
        return JSONResponse({"error": str(message)}, status_code=status)
    return handler


async def http_error(request, error):
    return JSONResponse({"error": error.detail}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


async def server_error(request, error):
    """Any other exception: logged with its traceback by the server, answered with 500;
    the server goes on serving the next request."""
    log.error("%s %s failed: %r", request.method, request.url.path, error)
    return JSONResponse({"error": f"internal error: {type(error).__name__}: {error}"},
                        status_code=500)


async def read_limited(request, limit):
    """The request body, refusing (413) a Content-Length or a stream over `limit` bytes
    before reading more than that."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the upload has {int(declared):,} bytes; at most "
                                 f"{limit:,} (10 MB) are accepted")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the upload is over {limit:,} bytes (10 MB), the limit")
    return bytes(body)


async def first_file(request, body):
    """The first file of a multipart/form-data body already read into `body`."""
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}
    form = await Request(request.scope, replay).form(max_files=1, max_fields=10,
                                                    max_part_size=MAX_UPLOAD)
    try:
        for value in form.values():
            if hasattr(value, "read"):
                return await value.read()
    finally:
        await form.close()
    raise UploadError("the form has no file; send the image as a file field")


def _int(query, key, default, lo=None, hi=None):
    return _number(query, key, default, lo, hi, int)


def _float(query, key, default, lo=None, hi=None):
    return _number(query, key, default, lo, hi, float)


def _number(query, key, default, lo, hi, kind):
    text = query.get(key)
    if text in (None, ""):
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {text!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{key} must be in {lo}..{hi}, got {value}")
    return value


def _target_json(ex, target):
    """A target as the page shows it: {"class": name} or {"layer", "unit"}."""
    if isinstance(target, tuple):
        return {"layer": target[0], "unit": list(target[1:])}
    return {"class": ex.classes[target], "index": int(target)}
