"""An installed OHIF Viewer (npm `@ohif/app`'s prebuilt `dist`) at /ohif, when the setting
`ohif_dir` names it (off by default; kura's own viewer stays).

OHIF's build expects to sit at the root of its origin (its public path is "/"); kura serves
it under /ohif/ by rewriting that path in index.html and in the bundles that carry webpack's
public path, once per file, in memory. `app-config.js` is kura's own: one DICOMweb data
source, this server's /dicom-web. OHIF runs on kura's origin, so the browser sends the
session cookie with its DICOMweb requests and every one of them goes through kura's access
decision as usual. Every file needs a session; the page itself the right to search studies.
"""

from __future__ import annotations

import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import NotFound
from kura.web.deps import AuthDep, kura_of, work

__all__ = ["router", "PREFIX", "CSP", "config_js"]

PREFIX = "/ohif"
router = APIRouter(prefix=PREFIX, tags=["ohif"], include_in_schema=False)

_PUBLIC_PATH = (b'__webpack_require__.p = "/"', f'__webpack_require__.p = "{PREFIX}/"'.encode())
_INDEX_REWRITES = [(b'window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PREFIX}/"'.encode()),
                   (b'src="/', f'src="{PREFIX}/'.encode()), (b'href="/', f'href="{PREFIX}/'.encode())]

# What the browser may run there: OHIF's inline start-up script, WebAssembly decoders, web
# workers from blob: URLs, inline styles. Everything else as on kura's own pages.
CSP = (b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
       b"script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
       b"font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       b"base-uri 'none'; form-action 'self'")


def _dist(request: Request) -> Path:
    folder = kura_of(request).settings.ohif_path
    if folder is None or not (folder / "index.html").is_file():
        raise NotFound("OHIF is not installed here (setting ohif_dir)")
    return folder


@lru_cache(maxsize=32)
def _rewritten(path: Path, mtime_ns: int) -> bytes:
    data = path.read_bytes()
    if path.name == "index.html":
        for old, new in _INDEX_REWRITES:
            data = data.replace(old, new)
    elif path.suffix == ".js":
        data = data.replace(*_PUBLIC_PATH)
    return data


def config_js(base_url: str, *, router_basename: str = PREFIX) -> str:
    """OHIF's app-config.js: one DICOMweb data source, the kura at `base_url`."""
    dicomweb = base_url.rstrip("/") + "/dicom-web"
    source = {"friendlyName": "kura", "name": "kura", "wadoUriRoot": dicomweb, "qidoRoot": dicomweb,
              "wadoRoot": dicomweb, "qidoSupportsIncludeField": False, "imageRendering": "wadors",
              "thumbnailRendering": "wadors", "enableStudyLazyLoad": True, "supportsFuzzyMatching": False,
              "supportsWildcard": False, "staticWado": False, "singlepart": "bulkdata,video",
              "bulkDataURI": {"enabled": True}, "omitQuotationForMultipartRequest": True}
    config = {"routerBasename": router_basename, "extensions": [], "modes": [], "showStudyList": True,
              "maxNumberOfWebWorkers": 2, "showWarningMessageForCrossOrigin": False,
              "showCPUFallbackMessage": True, "showLoadingIndicator": True, "investigationalUseDialog":
              {"option": "never"}, "defaultDataSourceName": "kura",
              "dataSources": [{"namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                               "sourceName": "kura", "configuration": source}]}
    return f"window.config = {json.dumps(config, ensure_ascii=False)};\n"


def _index(request: Request, auth, folder: Path) -> Response:
    with work(request, auth) as ctx:
        ctx.require(Action.ImagingStudySearch, Target(kind="ImagingStudy"))
    index = folder / "index.html"
    return Response(_rewritten(index, index.stat().st_mtime_ns), media_type="text/html")


@router.get("")
def ohif_root(auth: AuthDep):
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get("/app-config.js")
def app_config(request: Request, auth: AuthDep):
    _dist(request)
    return Response(config_js(str(request.base_url)), media_type="text/javascript")


@router.get("/{path:path}")
def ohif_file(path: str, request: Request, auth: AuthDep):
    """A file of the build; any other path is one of OHIF's own routes (/ohif/viewer?…), which
    its index.html handles in the browser."""
    folder = _dist(request)
    target = (folder / path).resolve()
    if not path or not target.is_relative_to(folder.resolve()) or not target.is_file():
        return _index(request, auth, folder)
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".wasm":
        media = "application/wasm"
    if target.name == "index.html" or target.suffix == ".js":
        body = _rewritten(target, target.stat().st_mtime_ns)
    else:
        body = target.read_bytes()
    # the build's files are named by their content hash: a browser may keep them
    return Response(body, media_type=media, headers={"Cache-Control": "private, max-age=3600"})
